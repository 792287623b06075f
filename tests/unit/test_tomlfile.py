from pathlib import Path

from prcast.tomlfile import parse_toml

TEXT = '''\
top = 1
[a.b]
x = 1
"quoted.key" = 2
text = """
y = 3
"""
after = 4
[[items]]
name = "one"
[[items]]
name = "two"
list = [
  "z = 5",
]
last = 6
'''


def test_line_of_keys_tables_and_arrays_of_tables() -> None:
    doc = parse_toml(TEXT, Path("f.toml"))
    assert doc.line_of(["top"]) == 1
    assert doc.line_of(["a", "b"]) == 2
    assert doc.line_of(["a", "b", "x"]) == 3
    assert doc.line_of(["a", "b", "quoted.key"]) == 4
    assert doc.line_of(["a", "b", "after"]) == 8
    assert doc.line_of(["a", "b", "y"]) == 2  # inside a multi-line string: falls back to the table
    assert doc.line_of(["items", 0, "name"]) == 10
    assert doc.line_of(["items", 1, "name"]) == 12
    assert doc.line_of(["items", 1, "last"]) == 16
    assert doc.line_of(["items", 1, "missing"]) == 11


def test_line_offset_applies() -> None:
    doc = parse_toml("a = 1\nb = 2\n", Path("r.md"), line_offset=1)
    assert doc.line_of(["b"]) == 3
