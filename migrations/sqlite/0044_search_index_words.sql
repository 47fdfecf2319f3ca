-- The words of the full-text index, one row per occurrence, so that the
-- desk's search can find the few words a prefix starts (`navigat*`:
-- navigateur, navigation…) by one seek each and read their postings as it
-- goes, most recent first, instead of FTS5 merging every posting of the
-- prefix before the first match (see crates/store/src/search.rs). A view
-- over the index: it stores nothing and costs a filing nothing.
CREATE VIRTUAL TABLE search_index_words USING fts5vocab(search_index, 'instance');
