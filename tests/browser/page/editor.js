// The editor a stock Tiptap 3 user writes: StarterKit (its own undo/redo off), Collaboration on
// the Hocuspocus provider's document (`field: 'content'`), CollaborationCaret, one shared
// HocuspocusProviderWebsocket with `provider.attach()`, the token as an async function.
// Read-only scope → `editor.setEditable(false)`. Everything the tests look at is on `window.ua`.
import { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { Editor } from "@tiptap/core";
import Collaboration from "@tiptap/extension-collaboration";
import CollaborationCaret from "@tiptap/extension-collaboration-caret";
import StarterKit from "@tiptap/starter-kit";
import * as Y from "yjs";

const params = new URLSearchParams(window.location.search);
const required = (key) => {
  const value = params.get(key);
  if (!value) throw new Error(`missing query parameter ${key}`);
  return value;
};

// What the tests count: socket status changes, closes, disconnects and (re)connects.
const state = {
  status: "connecting",
  statuses: [],
  connects: 0,
  closes: [],
  disconnects: 0,
  scope: null,
  authenticationFailed: null,
  synced: false,
  unsyncedChanges: 0,
  maxUnsyncedChanges: 0,
  errors: [],
};
window.addEventListener("error", (event) => state.errors.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) => state.errors.push(String(event.reason)));

let token = required("token");

const socket = new HocuspocusProviderWebsocket({ url: required("ws") });
socket.on("status", ({ status }) => {
  state.status = status;
  state.statuses.push(status);
});
socket.on("connect", () => {
  state.connects += 1;
});
socket.on("close", ({ event }) => {
  state.closes.push({ code: event?.code ?? null, reason: String(event?.reason ?? "") });
});
socket.on("disconnect", () => {
  state.disconnects += 1;
});

const provider = new HocuspocusProvider({
  websocketProvider: socket,
  name: required("doc"),
  token: async () => token,
  onAuthenticated: ({ scope }) => {
    state.scope = scope;
    editor.setEditable(scope !== "readonly");
  },
  onAuthenticationFailed: ({ reason }) => {
    state.authenticationFailed = String(reason ?? "");
  },
  onSynced: ({ state: synced }) => {
    state.synced = synced;
  },
  onUnsyncedChanges: ({ number }) => {
    state.unsyncedChanges = number;
    state.maxUnsyncedChanges = Math.max(state.maxUnsyncedChanges, number);
  },
});
provider.attach();

const editor = new Editor({
  element: document.querySelector("#editor"),
  extensions: [
    StarterKit.configure({ undoRedo: false }),
    Collaboration.configure({ document: provider.document, field: "content" }),
    CollaborationCaret.configure({
      provider,
      user: { name: params.get("name") || "Tester", color: params.get("color") || "#3366ff" },
    }),
  ],
});

window.ua = {
  Y,
  editor,
  provider,
  socket,
  state,
  setToken: (value) => {
    token = value;
  },
  aiText: () => provider.document.getMap("ai").get("text")?.toString() ?? "",
  aiStatus: () => provider.document.getMap("ai").get("status") ?? null,
};
