// Starts a did:plc directory (in memory) and the reference Bluesky PDS on 127.0.0.1.
// Prints one JSON line {"url": ..., "plc": ...} when both listen; stops on SIGTERM.
import { PlcServer, Database } from '@did-plc/server'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'

const plc = PlcServer.create({ db: Database.mock(), port: 0 })
const plcHttp = await plc.start()
const plcUrl = `http://127.0.0.1:${plcHttp.address().port}`
process.env.PDS_DID_PLC_URL = plcUrl

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.start()
console.log(JSON.stringify({ url: `http://127.0.0.1:${env.port}`, plc: plcUrl }))

const stop = async () => {
  await pds.destroy()
  await plc.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
