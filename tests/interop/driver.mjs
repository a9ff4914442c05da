// Interop driver: real Node Yjs clients (y-websocket and the Hocuspocus provider) controlled by
// JSON lines on stdin. Each command is {"id", "cmd", ...params}; each reply is one JSON line
// {"id", "ok": true, "result"} or {"id", "ok": false, "error"} on stdout. Nothing else is written
// to stdout: console output of the libraries goes to stderr.
import { createInterface } from "node:readline";

import { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import WebSocket from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

for (const level of ["log", "info", "debug", "warn"]) {
  console[level] = (...args) => process.stderr.write(`[driver ${level}] ${args.join(" ")}\n`);
}

const FIELD = "content";
const POLL_MS = 20;
// Quicker reconnects than the defaults (1 s doubling up to 30 s) so restart tests stay short.
// `minDelay` must not exceed `delay`, or the retry helper never makes an attempt.
const HOCUSPOCUS_RETRY = { delay: 250, minDelay: 100, maxDelay: 1000 };

/** name -> {name, protocol, document, doc, provider, events} */
const clients = new Map();
/** name -> HocuspocusProviderWebsocket shared by several documents */
const sockets = new Map();

class CommandError extends Error {}

function getClient(name) {
  const client = clients.get(name);
  if (!client) throw new CommandError(`unknown client ${JSON.stringify(name)}`);
  return client;
}

function newEvents() {
  return {
    closes: [],
    errors: [],
    authenticationFailed: null,
    authenticated: null,
    maxUnsyncedChanges: 0,
  };
}

function recordClose(client, event) {
  client.events.closes.push({
    code: event?.code ?? null,
    reason: event?.reason ? String(event.reason) : "",
  });
}

function connectYjs(client, { url, document, token }) {
  const params = token == null ? {} : { token };
  const provider = new WebsocketProvider(url, document, client.doc, {
    params,
    WebSocketPolyfill: WebSocket,
    // Node 20 has a global BroadcastChannel: without this, two clients of the same room in this
    // process would sync through it instead of through the server.
    disableBc: true,
    maxBackoffTime: 1000,
  });
  provider.on("connection-close", (event) => recordClose(client, event));
  provider.on("connection-error", (event) => {
    client.events.errors.push(String(event?.message ?? event?.error ?? "error"));
  });
  return provider;
}

function sharedSocket(name, url) {
  let socket = sockets.get(name);
  if (!socket) {
    socket = new HocuspocusProviderWebsocket({
      url,
      WebSocketPolyfill: WebSocket,
      ...HOCUSPOCUS_RETRY,
    });
    sockets.set(name, socket);
  }
  return socket;
}

function connectHocuspocus(client, { url, document, token, socket }) {
  const common = {
    name: document,
    token: token ?? null,
    document: client.doc,
    onAuthenticated: ({ scope }) => {
      client.events.authenticated = { scope };
    },
    onAuthenticationFailed: ({ reason }) => {
      client.events.authenticationFailed = { reason: String(reason ?? "") };
    },
    onClose: ({ event }) => recordClose(client, event),
    onUnsyncedChanges: ({ number }) => {
      client.events.maxUnsyncedChanges = Math.max(client.events.maxUnsyncedChanges, number);
    },
  };
  if (socket) {
    const provider = new HocuspocusProvider({
      ...common,
      websocketProvider: sharedSocket(socket, url),
    });
    provider.attach();
    return provider;
  }
  return new HocuspocusProvider({
    ...common,
    url,
    WebSocketPolyfill: WebSocket,
    ...HOCUSPOCUS_RETRY,
  });
}

function connect(params) {
  const { client: name, protocol } = params;
  if (clients.has(name)) throw new CommandError(`client ${name} already exists`);
  const client = {
    name,
    protocol,
    document: params.document,
    doc: new Y.Doc(),
    provider: null,
    events: newEvents(),
  };
  if (protocol === "yjs") client.provider = connectYjs(client, params);
  else if (protocol === "hocuspocus") client.provider = connectHocuspocus(client, params);
  else throw new CommandError(`unknown protocol ${JSON.stringify(protocol)}`);
  clients.set(name, client);
  return { clientId: client.doc.clientID };
}

function paragraphTexts(doc) {
  return doc
    .getXmlFragment(FIELD)
    .toArray()
    .filter((node) => node instanceof Y.XmlElement && node.nodeName === "paragraph")
    .map((p) =>
      p
        .toArray()
        .map((child) =>
          child instanceof Y.XmlText
            ? child
                .toDelta()
                .map((op) => (typeof op.insert === "string" ? op.insert : ""))
                .join("")
            : "",
        )
        .join(""),
    );
}

function insertParagraph({ client: name, text, index }) {
  const { doc } = getClient(name);
  const fragment = doc.getXmlFragment(FIELD);
  // What y-prosemirror does for a new paragraph node: an XmlElement named after the node type
  // holding an XmlText built from a delta of text runs with their marks as attributes.
  doc.transact(() => {
    const ytext = new Y.XmlText();
    ytext.applyDelta([{ insert: String(text) }]);
    const paragraph = new Y.XmlElement("paragraph");
    paragraph.insert(0, [ytext]);
    const at = index == null ? fragment.length : Math.min(Math.max(0, index), fragment.length);
    fragment.insert(at, [paragraph]);
  });
  return { paragraphs: paragraphTexts(doc).length };
}

function awarenessOf(client) {
  return client.provider.awareness;
}

function otherStates(client) {
  const awareness = awarenessOf(client);
  if (!awareness) return [];
  const out = [];
  for (const [clientId, state] of awareness.getStates()) {
    if (clientId !== client.doc.clientID) out.push({ clientId, state });
  }
  return out;
}

function status(client) {
  const { provider, events } = client;
  const last = events.closes.at(-1);
  const out = {
    protocol: client.protocol,
    clientId: client.doc.clientID,
    synced: Boolean(provider.synced),
    closes: events.closes,
    closeCode: last ? last.code : null,
    closeReason: last ? last.reason : null,
    errors: events.errors,
  };
  if (client.protocol === "yjs") {
    out.connected = Boolean(provider.wsconnected);
    out.authenticated = Boolean(provider.wsconnected);
    out.permissionDenied = false;
  } else {
    out.authenticated = Boolean(provider.isAuthenticated);
    out.scope = provider.authorizedScope ?? events.authenticated?.scope ?? null;
    out.permissionDenied = events.authenticationFailed !== null;
    out.permissionDeniedReason = events.authenticationFailed?.reason ?? null;
    out.unsyncedChanges = provider.unsyncedChanges;
    out.maxUnsyncedChanges = events.maxUnsyncedChanges;
  }
  return out;
}

function matches(value, expected) {
  if (expected === null || typeof expected !== "object") return value === expected;
  if (value === null || typeof value !== "object") return false;
  return Object.entries(expected).every(([key, want]) => matches(value[key], want));
}

async function until(timeoutMs, check, describe) {
  const deadline = Date.now() + (timeoutMs ?? 10000);
  for (;;) {
    if (check()) return;
    if (Date.now() >= deadline) {
      throw new CommandError(`timed out after ${timeoutMs} ms: ${describe()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function waitFor({ client: name, paragraphs, contains, timeoutMs }) {
  const client = getClient(name);
  const check = () => {
    const texts = paragraphTexts(client.doc);
    if (paragraphs != null && texts.length !== paragraphs) return false;
    if (contains != null && !texts.some((t) => t.includes(contains))) return false;
    return true;
  };
  await until(timeoutMs, check, () => {
    const texts = paragraphTexts(client.doc);
    const want = `paragraphs=${paragraphs} contains=${JSON.stringify(contains)}`;
    const have = `${texts.length}: ${JSON.stringify(texts.slice(0, 30))}`;
    return `want ${want}; have ${have}; status ${JSON.stringify(status(client))}`;
  });
  return { paragraphs: paragraphTexts(client.doc) };
}

async function waitAwareness({ client: name, count, match, without, timeoutMs }) {
  const client = getClient(name);
  const check = () => {
    const others = otherStates(client);
    if (count != null && others.length !== count) return false;
    if (match != null && !others.some((o) => matches(o.state, match))) return false;
    if (without != null && others.some((o) => o.clientId === without)) return false;
    return true;
  };
  await until(timeoutMs, check, () => {
    const want = JSON.stringify({ count, match, without });
    return `want ${want}; have ${JSON.stringify(otherStates(client))}`;
  });
  return { states: otherStates(client) };
}

async function waitStatus({ client: name, match, timeoutMs }) {
  const client = getClient(name);
  await until(
    timeoutMs,
    () => matches(status(client), match),
    () => `want ${JSON.stringify(match)}; have ${JSON.stringify(status(client))}`,
  );
  return status(client);
}

function terminateAbruptly(client) {
  // Drop the TCP connection without a close frame or an awareness removal, like a crashed tab.
  if (client.protocol === "yjs") {
    const { provider } = client;
    provider.shouldConnect = false;
    provider.ws?.terminate?.();
  } else {
    const socket = client.provider.configuration.websocketProvider;
    socket.shouldConnect = false;
    socket.webSocket?.terminate?.();
  }
}

function disconnect({ client: name, abrupt }) {
  const client = getClient(name);
  if (abrupt) terminateAbruptly(client);
  client.provider.destroy();
  clients.delete(name);
  return {};
}

function destroyAll() {
  for (const client of clients.values()) {
    try {
      client.provider.destroy();
    } catch (error) {
      console.warn(`destroying ${client.name}: ${error}`);
    }
  }
  clients.clear();
  for (const socket of sockets.values()) socket.destroy();
  sockets.clear();
  return {};
}

const commands = {
  connect,
  insertParagraph,
  readParagraphs: ({ client }) => ({ paragraphs: paragraphTexts(getClient(client).doc) }),
  waitFor,
  setAwareness: ({ client, state }) => {
    awarenessOf(getClient(client)).setLocalState(state);
    return {};
  },
  awareness: ({ client }) => ({ states: otherStates(getClient(client)) }),
  waitAwareness,
  status: ({ client }) => status(getClient(client)),
  waitStatus,
  waitSynced: ({ client, timeoutMs }) => waitStatus({ client, match: { synced: true }, timeoutMs }),
  disconnect,
  destroy: destroyAll,
  ping: () => ({ pong: true }),
};

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    reply({ id: null, ok: false, error: `bad JSON: ${error.message}` });
    return;
  }
  const { id, cmd, ...params } = request;
  const command = commands[cmd];
  if (!command) {
    reply({ id, ok: false, error: `unknown command ${JSON.stringify(cmd)}` });
    return;
  }
  try {
    reply({ id, ok: true, result: (await command(params)) ?? {} });
  } catch (error) {
    const message = error instanceof CommandError ? error.message : String(error?.stack ?? error);
    reply({ id, ok: false, error: message });
  }
}

process.on("unhandledRejection", (error) => console.warn(`unhandled rejection: ${error}`));
process.on("uncaughtException", (error) => console.warn(`uncaught exception: ${error?.stack}`));

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (line.trim()) handle(line);
});
lines.on("close", () => {
  destroyAll();
  process.exit(0);
});
