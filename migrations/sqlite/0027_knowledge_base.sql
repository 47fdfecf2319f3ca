-- Knowledge base (base de connaissances): Markdown articles, French with an
-- optional English version, for an audience (public: anyone, the HELP page
-- included; schools: school administrators; desk: staff only), published or
-- draft; every saved version kept with who and when; each "this answered my
-- question" recorded (deflection).
CREATE TABLE kb_articles (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    title_en TEXT,
    body_en TEXT,
    audience TEXT NOT NULL CONSTRAINT kb_articles_audience_check CHECK (audience IN ('public', 'schools', 'desk')),
    category_id BIGINT REFERENCES categories (id) ON DELETE SET NULL,
    keywords TEXT NOT NULL DEFAULT '',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    source_ticket_id BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX kb_articles_audience_idx ON kb_articles (audience, published);

CREATE TABLE kb_versions (
    article_id BIGINT NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    title_en TEXT,
    body_en TEXT,
    audience TEXT NOT NULL CONSTRAINT kb_versions_audience_check CHECK (audience IN ('public', 'schools', 'desk')),
    category_id BIGINT REFERENCES categories (id) ON DELETE SET NULL,
    keywords TEXT NOT NULL DEFAULT '',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    edited_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    edited_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_deflections (
    id INTEGER PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    establishment_id BIGINT REFERENCES establishments (id) ON DELETE SET NULL,
    source TEXT NOT NULL CONSTRAINT kb_deflections_source_check CHECK (source IN ('portal', 'help'))
);
CREATE INDEX kb_deflections_at_idx ON kb_deflections (at);
CREATE INDEX kb_deflections_article_idx ON kb_deflections (article_id);

-- The articles' words, as the tickets' (0012): FTS5, accents folded.
CREATE VIRTUAL TABLE search_kb USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER search_kb_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO search_kb (rowid, body) VALUES (new.id, new.title || char(10) || new.keywords || char(10) || new.body
        || char(10) || COALESCE(new.title_en, '') || char(10) || COALESCE(new.body_en, ''));
END;
CREATE TRIGGER search_kb_update AFTER UPDATE ON kb_articles BEGIN
    DELETE FROM search_kb WHERE rowid = old.id;
    INSERT INTO search_kb (rowid, body) VALUES (new.id, new.title || char(10) || new.keywords || char(10) || new.body
        || char(10) || COALESCE(new.title_en, '') || char(10) || COALESCE(new.body_en, ''));
END;
CREATE TRIGGER search_kb_delete AFTER DELETE ON kb_articles BEGIN
    DELETE FROM search_kb WHERE rowid = old.id;
END;
