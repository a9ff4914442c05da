-- The CRDT update log and compacted snapshots, per document name.

CREATE TABLE document_updates (
    id bigserial PRIMARY KEY,
    document text NOT NULL,
    update bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX document_updates_document ON document_updates (document, id);

CREATE TABLE document_snapshots (
    document text PRIMARY KEY,
    state bytea NOT NULL,
    last_update_id bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
