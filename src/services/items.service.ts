import type { Kysely } from 'kysely';
import type { Database, ItemRow, NewItemRow } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { embeddableFromInput, type ItemTextPolicy, itemTextHash } from '../embedding/item-text.ts';
import { applyMergePatch } from '../ingest/merge-patch.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import {
  deleteItem,
  findItemById,
  findItemByIdForUpdate,
  listItems,
  upsertItem,
} from '../repositories/items.repository.ts';
import { type Item, type ItemInput, type ItemPatch, itemInputSchema } from '../schemas/items.schema.ts';
import { z } from 'zod';

export async function getItem(db: Kysely<Database>, id: string): Promise<Item> {
  const row = await findItemById(db, id);
  if (!row) throw new NotFoundError(`No item "${id}"`);
  return toItem(row);
}

/** Creates or fully replaces an item. */
export async function putItem(
  db: Kysely<Database>,
  policy: ItemTextPolicy,
  id: string,
  input: ItemInput,
): Promise<{ item: Item; created: boolean }> {
  if (input.id !== undefined && input.id !== id) {
    throw new ValidationError([
      { path: 'body.id', message: `must equal the id in the path ("${id}") or be left out` },
    ]);
  }
  const { item, created } = await upsertItem(db, toItemRow(id, input, policy));
  return { item: toItem(item), created };
}

/** Applies a JSON merge patch to a stored item, checking the result like a full replacement. */
export async function patchItem(
  db: Kysely<Database>,
  policy: ItemTextPolicy,
  id: string,
  patch: ItemPatch,
): Promise<Item> {
  return db.transaction().execute(async (trx) => {
    const current = await findItemByIdForUpdate(trx, id);
    if (!current) throw new NotFoundError(`No item "${id}"`);
    const merged = mergeItemPatch(current, patch);
    if (!merged.success) {
      throw new ValidationError(
        merged.error.issues.map((issue) => ({
          path: ['body', ...issue.path].join('.'),
          message: issue.message,
        })),
      );
    }
    const { item } = await upsertItem(trx, toItemRow(id, merged.data, policy));
    return toItem(item);
  });
}

/**
 * A stored item (or none yet) with a JSON merge patch applied, checked like a full replacement: what PATCH and
 * an upsert-mode import write.
 */
export function mergeItemPatch(current: ItemRow | undefined, patch: Record<string, unknown>) {
  const base = current
    ? (({ id: _id, createdAt: _c, updatedAt: _u, ...fields }) => fields)(toItem(current))
    : {};
  return itemInputSchema.safeParse(applyMergePatch(base, patch));
}

export async function removeItem(db: Kysely<Database>, id: string): Promise<void> {
  await deleteItem(db, id);
}

export interface ItemListRequest {
  limit: number;
  cursor?: string | undefined;
  type?: string | undefined;
  genre?: string | undefined;
  updatedSince?: string | undefined;
}

export async function listItemPage(
  db: Kysely<Database>,
  request: ItemListRequest,
): Promise<{ items: Item[]; nextCursor: string | null }> {
  const afterId = request.cursor ? decodeCursor(request.cursor, { afterId: z.string() }).afterId : undefined;
  // One extra row tells whether another page exists without a COUNT.
  const rows = await listItems(db, { ...request, afterId, limit: request.limit + 1 });
  const page = rows.slice(0, request.limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > request.limit && last ? encodeCursor({ afterId: last.id }) : null,
  };
}

/** The row for an item, with the hash of its embedding text (what tells the embedder it changed). */
export function toItemRow(id: string, input: ItemInput, policy: ItemTextPolicy): NewItemRow {
  const releaseYear = input.releaseDate ? Number(input.releaseDate.slice(0, 4)) : null;
  return {
    id,
    type: input.type,
    title: input.title,
    description: input.description ?? null,
    genres: input.genres,
    tags: input.tags,
    credits: JSON.stringify(input.credits),
    language: input.language ?? null,
    release_date: input.releaseDate ?? null,
    release_year: releaseYear,
    duration_seconds: input.durationSeconds ?? null,
    maturity_rating: input.maturityRating ?? null,
    regions: input.regions,
    available_from: input.availableFrom ? new Date(input.availableFrom) : null,
    available_until: input.availableUntil ? new Date(input.availableUntil) : null,
    image_url: input.imageUrl ?? null,
    url: input.url ?? null,
    series_id: input.seriesId ?? null,
    attributes: JSON.stringify(input.attributes),
    embedding_text_hash: itemTextHash(policy, embeddableFromInput(input)),
  };
}

export function toItem(row: ItemRow): Item {
  return {
    id: row.id,
    type: row.type,
    title: row.title,
    ...(row.description !== null && { description: row.description }),
    genres: row.genres,
    tags: row.tags,
    credits: row.credits,
    ...(row.language !== null && { language: row.language }),
    ...(row.release_date !== null && { releaseDate: row.release_date }),
    ...(row.duration_seconds !== null && { durationSeconds: row.duration_seconds }),
    ...(row.maturity_rating !== null && { maturityRating: row.maturity_rating }),
    regions: row.regions,
    ...(row.available_from !== null && { availableFrom: row.available_from.toISOString() }),
    ...(row.available_until !== null && { availableUntil: row.available_until.toISOString() }),
    ...(row.image_url !== null && { imageUrl: row.image_url }),
    ...(row.url !== null && { url: row.url }),
    ...(row.series_id !== null && { seriesId: row.series_id }),
    attributes: row.attributes,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
