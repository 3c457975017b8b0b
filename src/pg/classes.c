/*
 * classes.c: an attribute's values as classes, for training and audits alike.
 *
 * The classes are the distinct values as text, in byte order (strcmp, as
 * COLLATE "C" would sort them), numbered from 0; a numeric attribute with
 * more than RAID_MAX_CLASSES distinct values is almost certainly unbinned,
 * which is an error with a hint.
 */
#include "postgres.h"

#include "raid_pg.h"

typedef struct LabelRef
{
	const char *label;
	int64		row;
} LabelRef;

static int
cmp_label_ref(const void *a, const void *b)
{
	const LabelRef *x = a;
	const LabelRef *y = b;
	int			c = strcmp(x->label, y->label);

	if (c != 0)
		return c;
	return (x->row > y->row) - (x->row < y->row);
}

void
raid_map_classes(char **labels, int64 n, const char *attribute, int32 *out_class,
				 RaidClasses *out)
{
	LabelRef   *refs = palloc_extended(sizeof(LabelRef) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < n; i++)
	{
		refs[i].label = labels[i];
		refs[i].row = i;
	}
	qsort(refs, n, sizeof(LabelRef), cmp_label_ref);

	out->names = palloc(sizeof(char *) * RAID_MAX_CLASSES);
	out->counts = palloc0(sizeof(int64) * RAID_MAX_CLASSES);
	out->n_classes = 0;
	for (int64 i = 0; i < n; i++)
	{
		if (i == 0 || strcmp(refs[i].label, refs[i - 1].label) != 0)
		{
			if (out->n_classes == RAID_MAX_CLASSES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("attribute \"%s\" has more than %d distinct values", attribute,
								RAID_MAX_CLASSES),
						 errhint("Bin a numeric attribute into groups, for example with a view.")));
			out->names[out->n_classes++] = labels[refs[i].row];
		}
		out_class[refs[i].row] = out->n_classes - 1;
		out->counts[out->n_classes - 1]++;
	}
	pfree(refs);
}
