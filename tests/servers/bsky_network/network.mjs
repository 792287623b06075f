// Starts @atproto/dev-env's TestNetwork: a did:plc directory, the reference PDS and the
// AppView (which serves app.bsky.notification.listNotifications and app.bsky.feed.searchPosts,
// indexing the PDS's firehose). Needs DB_POSTGRES_URL and REDIS_HOST.
// Prints one JSON line {"pds": ..., "appview": ...} when it is up; stops on SIGTERM.
import { TestNetwork } from '@atproto/dev-env'

const schema = 'prcast_' + Math.random().toString(36).replace(/[^a-z]/g, '')
const network = await TestNetwork.create({ dbPostgresUrl: process.env.DB_POSTGRES_URL, dbPostgresSchema: schema })
console.log(JSON.stringify({ pds: network.pds.url, appview: network.bsky.url }))

const stop = async () => {
  await network.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
