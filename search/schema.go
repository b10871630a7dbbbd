package search

import _ "embed"

// Schema is the SQL that creates the workflows table Postgres reads with its
// default options: a stored, generated tsvector column with a GIN index for
// full-text queries, and a btree index on (tenant_id, lower(name)
// text_pattern_ops) for queries too short for full text. It needs no
// extension and can be applied more than once. The file is schema.sql in
// this package.
//
//go:embed schema.sql
var Schema string
