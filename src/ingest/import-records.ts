import type { ImportError } from '../db/database.ts';
import { findJsonValueProblem, idSchema } from '../schemas/common.schema.ts';
import { eventInputSchema } from '../schemas/events.schema.ts';
import { itemInputSchema, itemPatchSchema } from '../schemas/items.schema.ts';
import { userInputSchema, userPatchSchema } from '../schemas/users.schema.ts';
import { describeIssues } from './event-ingest.ts';
import type { ImportOptions } from './import-options.ts';
import { applyMapping } from './mapping.ts';

export const IMPORT_KINDS = ['items', 'users', 'events'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

/**
 * A validated record, ready for a batch: what it does, to which id, and where it came from. An upsert's
 * `data` is a whole item or user (replace, sync, events), or in an upsert-mode import the fields the record
 * holds, as a merge patch checked field by field (the batch checks the merged whole).
 */
export type ImportRecord =
  | { line: number; op: 'upsert'; id: string; data: Record<string, unknown> }
  | { line: number; op: 'delete'; id: string };

const LIST_FIELDS = new Set(['genres', 'tags', 'regions']);
const NUMBER_FIELDS = new Set(['durationSeconds', 'value']);

/**
 * A CSV row without a mapping: columns named like the API's fields, lists separated by "|", numbers as
 * numbers, `attributes.x` and `context.x` columns gathered into their objects, empty cells left out.
 */
function fromPlainCsv(row: Record<string, unknown>): Record<string, unknown> {
  // Null prototypes: a column named `__proto__` or `attributes.__proto__` is data, never a prototype.
  const result = Object.create(null) as Record<string, unknown>;
  for (const [column, raw] of Object.entries(row)) {
    if (typeof raw !== 'string' || raw.trim() === '') continue;
    const text = raw.trim();
    const value = LIST_FIELDS.has(column)
      ? text
          .split('|')
          .map((part) => part.trim())
          .filter(Boolean)
      : NUMBER_FIELDS.has(column) && Number.isFinite(Number(text))
        ? Number(text)
        : text;
    const [head, ...rest] = column.split('.');
    if (rest.length > 0 && (head === 'attributes' || head === 'context')) {
      const object = (result[head] ??= Object.create(null)) as Record<string, unknown>;
      object[rest.join('.')] = value;
    } else result[column] = value;
  }
  return result;
}

/** `["attributes", "k", 0]` → `attributes.k[0]`. */
const fieldPath = (path: readonly (string | number)[]) =>
  path.reduce<string>(
    (text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${part}` : part),
    '',
  );

/** Turns one source object into an import record, validated like the single-record endpoints. */
export function toImportRecord(
  options: Pick<ImportOptions, 'kind' | 'format' | 'mode' | 'mapping'>,
  line: number,
  source: Record<string, unknown>,
): { record: ImportRecord } | { error: ImportError } {
  const { kind, format, mapping } = options;
  // Before the mapping, on the whole source: what Postgres would refuse or corrupt (NUL, lone surrogates) or
  // what is no data at all (`__proto__` keys, nesting past any record's), in any key or string.
  const unstorable = findJsonValueProblem(source);
  const value = mapping ? applyMapping(mapping, source) : format === 'csv' ? fromPlainCsv(source) : source;
  const rawId = value.id;
  const idText = typeof rawId === 'string' ? rawId : undefined;
  const fail = (reason: string) => ({ error: { line, ...(idText ? { id: idText } : {}), reason } });
  if (unstorable) return fail(`${fieldPath(unstorable.path) || 'record'}: ${unstorable.message}`);

  const { op, ...fields } = value;
  if (op !== undefined && op !== 'upsert' && op !== 'delete') return fail('op: must be "upsert" or "delete"');
  if (kind === 'events') {
    if (op === 'delete') return fail('op: events cannot be deleted by import');
    const parsed = eventInputSchema.safeParse(fields);
    if (!parsed.success) return fail(describeIssues(parsed.error.issues));
    return { record: { line, op: 'upsert', id: parsed.data.id ?? '', data: parsed.data } };
  }
  const id = idSchema.safeParse(rawId);
  if (!id.success) return fail(rawId === undefined ? 'id: required' : `id: ${id.error.issues[0]?.message}`);
  if (op === 'delete') return { record: { line, op: 'delete', id: id.data } };
  const { id: _id, ...body } = fields;
  const merge = options.mode === 'upsert';
  const parsed =
    kind === 'items'
      ? (merge ? itemPatchSchema : itemInputSchema).safeParse(body)
      : (merge ? userPatchSchema : userInputSchema).safeParse(body);
  if (!parsed.success) return fail(describeIssues(parsed.error.issues));
  return { record: { line, op: 'upsert', id: id.data, data: parsed.data } };
}
