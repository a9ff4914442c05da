// The peer for `python -m bench.peer`: a minimal Hocuspocus v4 server.
// No persistence extension (documents live in memory only); any token is accepted.
// Usage: node bench/hocuspocus/server.mjs PORT
import { Server } from "@hocuspocus/server";

const port = Number(process.argv[2] ?? 1234);

const server = new Server({
  port,
  address: "127.0.0.1",
  quiet: true,
  async onAuthenticate() {
    return {};
  },
});

await server.listen();
console.log(`hocuspocus listening on ${port}`);
