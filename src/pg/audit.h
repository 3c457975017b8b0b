/*
 * audit.h: what the files of raid.audit share (audit.c: the SQL functions
 * and the attacks; audit_data.c: reading the rows and mapping the attribute
 * to classes).  Private to them.
 */
#ifndef RAID_AUDIT_H
#define RAID_AUDIT_H

#include "postgres.h"

#include "raid_pg.h"

/* rows fetched per SPI round trip */
#define AUDIT_BATCH 10000

/* Where the rows come from and what the audits rows say about it. */
typedef struct AuditSource
{
	int64		model_id;		/* 0 for an embeddings table */
	char	   *model;			/* model name, or NULL */
	char	   *embeddings;		/* "table(id_col, embedding_col)", or NULL */
	char	   *attributes;		/* qualified attributes table */
	char	   *attribute_col;
	char	   *rows_query;		/* id int8, embedding real[], label text; ORDER BY id */
	char	   *missing_query;	/* count of labelled users without an embedding */
	char	   *empty_hint;		/* hint when no user has an attribute */
} AuditSource;

/* What was read: labelled users, their features and class indices. */
typedef struct AuditData
{
	int64		n;
	int64		capacity;
	int			dim;
	int64	   *ids;
	float	   *X;
	char	  **labels;			/* per user, until classes are assigned */
	int32	   *classes;		/* per user */
	int			n_classes;
	char	  **class_names;	/* sorted */
	int64	   *class_users;
	int64		without_attribute;
	int64		missing_embedding;
	int64		null_ids;
} AuditData;

/* Checks that an embedding column is real[], double precision[] or pgvector's vector. */
extern void raid_audit_check_embedding_column(Oid relid, const char *col);

/* Reads every row of the source; counts what is excluded. */
extern void raid_audit_read_rows(const AuditSource *src, AuditData *d, MemoryContext keep);

/* Maps labels to class indices in byte order of the labels; checks the classes. */
extern void raid_audit_assign_classes(AuditData *d, const char *attribute, int folds, const char *empty_hint);

/* The current role's model: id, attributes, user column. */
extern void raid_audit_lookup_model(const char *name, int64 *model_id, char **attributes, char **attribute_col, char **user_col);

/* Resolves a table recorded as text in raid.models; 42P01 if it is gone. */
extern Oid raid_audit_recorded_table(const char *qualified, const char *model);

#endif							/* RAID_AUDIT_H */
