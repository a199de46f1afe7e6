import { createHash } from 'node:crypto';
import type { EmbeddableField } from '../config.ts';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import type { Credit, ItemRow } from '../db/database.ts';
import type { ItemInput } from '../schemas/items.schema.ts';

// What of an item is embedded: the configured fields, one labelled line each, in a fixed order. The content
// hash covers the text only, so an item is embedded again only when one of its embedded fields or the field
// list changes. The embedding space is not in it: it is a property of the whole vector table (marquee_meta),
// changed only by `marquee reembed`, so that the API (still on the old embedder) and the reembed agree on an
// item's hash throughout, and the moved vectors keep matching their items without rewriting every item.

const TEXT_VERSION = 1;
const MAX_DESCRIPTION_CHARS = 4_000;

/** The fields the text can be made of, whatever the item's source (an API body or a stored row). */
export interface EmbeddableItem {
  title: string;
  type: string;
  genres: readonly string[];
  tags: readonly string[];
  credits: readonly Credit[];
  description: string | null;
  language: string | null;
  releaseYear: number | null;
  maturityRating: string | null;
  regions: readonly string[];
}

/** How items become embedding text in this deployment: the embedder's space and the chosen fields. */
export interface ItemTextPolicy {
  readonly space: EmbeddingSpace;
  readonly fields: readonly EmbeddableField[];
}

export function embeddableFromRow(
  row: Pick<
    ItemRow,
    | 'title'
    | 'type'
    | 'genres'
    | 'tags'
    | 'credits'
    | 'description'
    | 'language'
    | 'release_year'
    | 'maturity_rating'
    | 'regions'
  >,
): EmbeddableItem {
  return {
    title: row.title,
    type: row.type,
    genres: row.genres,
    tags: row.tags,
    credits: row.credits,
    description: row.description,
    language: row.language,
    releaseYear: row.release_year,
    maturityRating: row.maturity_rating,
    regions: row.regions,
  };
}

/** The embeddable fields of an item as the API or an import gives it (see toItemRow, which stores them). */
export function embeddableFromInput(input: ItemInput): EmbeddableItem {
  return {
    title: input.title,
    type: input.type,
    genres: input.genres,
    tags: input.tags,
    credits: input.credits,
    description: input.description ?? null,
    language: input.language ?? null,
    releaseYear: input.releaseDate ? Number(input.releaseDate.slice(0, 4)) : null,
    maturityRating: input.maturityRating ?? null,
    regions: input.regions,
  };
}

const writers: Record<EmbeddableField, (item: EmbeddableItem) => string | undefined> = {
  title: (item) => `Title: ${item.title}`,
  type: (item) => `Type: ${item.type}`,
  genres: (item) => (item.genres.length > 0 ? `Genres: ${item.genres.join(', ')}` : undefined),
  tags: (item) => (item.tags.length > 0 ? `Tags: ${item.tags.join(', ')}` : undefined),
  credits: (item) =>
    item.credits.length > 0
      ? `Credits: ${item.credits
          .slice(0, 20)
          .map((credit) => `${credit.name} (${credit.role})`)
          .join(', ')}`
      : undefined,
  description: (item) =>
    item.description ? `Description: ${item.description.slice(0, MAX_DESCRIPTION_CHARS)}` : undefined,
  language: (item) => (item.language ? `Language: ${item.language}` : undefined),
  releaseYear: (item) => (item.releaseYear === null ? undefined : `Year: ${item.releaseYear}`),
  maturityRating: (item) => (item.maturityRating ? `Rating: ${item.maturityRating}` : undefined),
  regions: (item) => (item.regions.length > 0 ? `Regions: ${item.regions.join(', ')}` : undefined),
};

export function itemEmbeddingText(item: EmbeddableItem, fields: readonly EmbeddableField[]): string {
  return fields
    .map((field) => writers[field](item))
    .filter((line): line is string => line !== undefined)
    .join('\n');
}

export function embeddingContentHash(text: string): string {
  return createHash('sha256').update(`${TEXT_VERSION}\n${text}`).digest('base64url');
}

export function itemTextHash(policy: ItemTextPolicy, item: EmbeddableItem): string {
  return embeddingContentHash(itemEmbeddingText(item, policy.fields));
}
