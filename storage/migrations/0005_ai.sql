-- RAG chunks with their embeddings, and AI generation records.

CREATE TABLE rag_chunks (
    project_id uuid NOT NULL,
    phase smallint NOT NULL,
    model text NOT NULL,
    chunk_index integer NOT NULL,
    content_hash text NOT NULL,
    text text NOT NULL,
    embedding vector NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, phase, model, chunk_index),
    FOREIGN KEY (project_id, phase) REFERENCES phases (project_id, number) ON DELETE CASCADE
);
-- One HNSW index per (model, dimensions) is created at start-up by the index (see ai/rag).

CREATE TABLE generations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    phase smallint NOT NULL,
    status text NOT NULL DEFAULT 'streaming'
        CHECK (status IN ('streaming', 'done', 'cancelled', 'error')),
    model text NOT NULL,
    instructions text NOT NULL,
    prompt jsonb NOT NULL,
    temperature real NOT NULL,
    max_tokens integer NOT NULL,
    started_by uuid REFERENCES users (id) ON DELETE SET NULL,
    text text NOT NULL DEFAULT '',
    error text,
    prompt_tokens integer,
    completion_tokens integer,
    started_at timestamptz NOT NULL DEFAULT now(),
    first_token_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    accepted_mode text,
    FOREIGN KEY (project_id, phase) REFERENCES phases (project_id, number) ON DELETE CASCADE
);
CREATE UNIQUE INDEX generations_one_active ON generations (project_id, phase)
    WHERE status = 'streaming';
CREATE INDEX generations_project ON generations (project_id, started_at DESC);
