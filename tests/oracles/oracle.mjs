// One long-lived oracle for prcast's tests: a JSON request per line on stdin, a JSON
// answer per line on stdout. Every answer comes from the platforms' published code.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { AppBskyFeedPost, RichText } from '@atproto/api'

const require = createRequire(import.meta.url)
const twitter = require('twitter-text')

function x(text) {
  const r = twitter.parseTweet(text)
  return { length: r.weightedLength, valid: r.valid }
}

function xEntities(text) {
  // code point offsets, as twitter-text reports them after this conversion
  const urls = twitter.extractUrlsWithIndices(text)
  const mentions = twitter.extractMentionsOrListsWithIndices(text)
  const hashtags = twitter.extractHashtagsWithIndices(text)
  twitter.modifyIndicesFromUTF16ToUnicode(text, urls)
  twitter.modifyIndicesFromUTF16ToUnicode(text, mentions)
  twitter.modifyIndicesFromUTF16ToUnicode(text, hashtags)
  const cut = (e) => [e.indices[0], e.indices[1]]
  return { urls: urls.map(cut), mentions: mentions.map(cut), hashtags: hashtags.map(cut) }
}

function bluesky(text) {
  const rt = new RichText({ text })
  rt.detectFacetsWithoutResolution()
  const record = { $type: 'app.bsky.feed.post', text, createdAt: '2026-01-01T00:00:00.000Z' }
  return {
    graphemes: rt.graphemeLength,
    bytes: rt.length,
    valid: AppBskyFeedPost.validateRecord(record).success,
    facets: (rt.facets ?? []).map((f) => ({ index: f.index, features: f.features })),
  }
}

const ops = { x, x_entities: xEntities, bluesky }
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  const { op, texts } = JSON.parse(line)
  process.stdout.write(JSON.stringify(texts.map(ops[op])) + '\n')
}
