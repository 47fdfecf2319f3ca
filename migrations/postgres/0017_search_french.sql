-- PostgreSQL stems French words (the `french` text search configuration) on
-- the folded text: "élève" finds "élèves", "devoir" finds "devoirs". The
-- words are indexed as written too (`simple`): a stem is often shorter than
-- the word ("navigateur" stems to "navig"), and a prefix such as `navigat*`
-- must still complete the words people typed.
-- Folding (lower case, accents and ligatures removed, split on anything but
-- letters and digits) stays as 0012 wrote it, and queries are folded the
-- same way, so "evenement" still finds "événement". SQLite's FTS5 has no
-- French stemmer: there the words are matched whole, or by an explicit prefix.
ALTER TABLE search_docs DROP COLUMN tsv;
ALTER TABLE search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('french', regexp_replace(translate(replace(replace(lower(body), 'œ', 'oe'), 'æ', 'ae'),
        'àâäáãåçéèêëíìîïñóòôöõúùûüýÿ', 'aaaaaaceeeeiiiinooooouuuuyy'), '[^a-z0-9]+', ' ', 'g'))
    || to_tsvector('simple', regexp_replace(translate(replace(replace(lower(body), 'œ', 'oe'), 'æ', 'ae'),
        'àâäáãåçéèêëíìîïñóòôöõúùûüýÿ', 'aaaaaaceeeeiiiinooooouuuuyy'), '[^a-z0-9]+', ' ', 'g'))) STORED;
CREATE INDEX search_docs_tsv_idx ON search_docs USING GIN (tsv);
