/**
 * What a chat message asks for, as a structured query the engine can run. Both parsers write it: the LLM
 * (through structured output, so every field is present and "nothing said" is null or an empty list, as
 * OpenAI's strict JSON-schema mode requires) and the offline rule-based parser. Genres are the user's own
 * words ("horror", "sci-fi"); the engine resolves them against the catalog's genre labels.
 */
import { z } from 'zod';
import { checkModelText } from '../llm/output-filter.ts';
import { LANGUAGES } from './chat-vocabulary.ts';

export const chatQuerySchema = z
  .strictObject({
    semanticText: z
      .string()
      .max(300)
      .describe(
        'What the viewer wants, in a few words, for a semantic search ("" when nothing beyond filters).',
      ),
    referenceTitles: z
      .array(z.string().max(200))
      .max(5)
      .describe('Titles the viewer names as examples of what they want ("like Stranger Things").'),
    types: z
      .array(z.string().max(32))
      .max(5)
      .describe('Item types wanted: movie, series, music, podcast, article... (empty: any).'),
    genres: z.array(z.string().max(64)).max(10).describe("Genres or themes wanted, in the viewer's words."),
    excludeGenres: z
      .array(z.string().max(64))
      .max(10)
      .describe('Genres or themes the viewer does not want ("not horror").'),
    yearFrom: z.number().int().min(1800).max(2200).nullable().describe('Released in this year or later.'),
    yearTo: z.number().int().min(1800).max(2200).nullable().describe('Released in this year or earlier.'),
    maxMaturityRating: z
      .string()
      .max(16)
      .nullable()
      .describe('Highest maturity rating wanted (PG-13, TV-14, 12...), e.g. for "for kids".'),
    minDurationMinutes: z.number().int().min(0).max(10_000).nullable(),
    maxDurationMinutes: z.number().int().min(0).max(10_000).nullable(),
    languages: z
      .array(z.string().max(35))
      .max(5)
      .describe('Original languages wanted, as BCP 47 tags (en, fr, ja...).'),
    mood: z.string().max(60).nullable().describe('The mood or tone asked for (cosy, dark, funny...).'),
  })
  .meta({
    id: 'ChatQuery',
    description: 'How the message was understood: the query the engine ran.',
  });

export type ChatQuery = z.output<typeof chatQuerySchema>;

export const EMPTY_CHAT_QUERY: ChatQuery = {
  semanticText: '',
  referenceTitles: [],
  types: [],
  genres: [],
  excludeGenres: [],
  yearFrom: null,
  yearTo: null,
  maxMaturityRating: null,
  minDurationMinutes: null,
  maxDurationMinutes: null,
  languages: [],
  mood: null,
};

/** A mood is a few plain words ("cosy", "slow-burn", "feel good"): it is quoted in the reply. */
const MOOD = /^\p{L}+(?:[ '’-]\p{L}+){0,3}$/u;
const MAX_MOOD_LENGTH = 40;
/** An item type is a word or two ("movie", "TV show"); the engine maps it to the catalog's spelling. */
const ITEM_TYPE = /^\p{L}+(?:[ -]\p{L}+){0,2}$/u;
/** A maturity rating as the scales write them ("PG-13", "TV-Y7", "12", "16+"). */
const MATURITY_RATING = /^[a-z\d][a-z\d +-]{0,15}$/i;
/** BCP 47: a primary language subtag, then script, region or variant subtags ("fr", "pt-BR", "zh-Hant"). */
const LANGUAGE_TAG = /^[a-z]{2,3}(?:-[a-z\d]{2,8}){0,3}$/i;
/** Titles longer than this are not titles: the prompts cut catalog titles at the same length. */
const MAX_REFERENCE_TITLE_LENGTH = 120;

/**
 * The query with every string a model (or any parser but the rules) wrote checked by the output filter
 * (src/llm/output-filter.ts) and held to its field's shape, since `appliedQuery` goes back to the client
 * and the template reply quotes it: a field that fails is emptied, a list entry that fails is dropped, and
 * the rest of the query still runs. `instructions`: what the model was told, which no field may repeat.
 */
export function plainChatQuery(query: ChatQuery, instructions: readonly string[] = []): ChatQuery {
  const plain = (value: string, maxLength: number, shape?: RegExp) => {
    const checked = checkModelText(value, { maxLength, instructions });
    return checked.ok && (shape === undefined || shape.test(checked.text)) ? checked.text : undefined;
  };
  const plainList = (values: readonly string[], maxLength: number, shape?: RegExp) => [
    ...new Set(values.flatMap((value) => plain(value, maxLength, shape) ?? [])),
  ];
  const rating = query.maxMaturityRating === null ? undefined : plain(query.maxMaturityRating, 16);
  const mood = query.mood === null ? undefined : plain(query.mood, MAX_MOOD_LENGTH, MOOD);
  return {
    ...query,
    semanticText: plain(query.semanticText, 300) ?? '',
    referenceTitles: plainList(query.referenceTitles, MAX_REFERENCE_TITLE_LENGTH),
    types: plainList(query.types, 32, ITEM_TYPE),
    genres: plainList(query.genres, 64),
    excludeGenres: plainList(query.excludeGenres, 64),
    maxMaturityRating: rating !== undefined && MATURITY_RATING.test(rating) ? rating : null,
    languages: [...new Set(query.languages.flatMap((language) => languageTag(language) ?? []))],
    mood: mood ?? null,
  };
}

/** A BCP 47 tag as is; a language's name ("French", "français") as its tag; anything else undefined. */
function languageTag(language: string): string | undefined {
  const trimmed = language.trim();
  if (LANGUAGE_TAG.test(trimmed)) return trimmed;
  const name = trimmed.toLowerCase();
  return LANGUAGES.find(
    (known) => known.words.includes(name) || known.name.en.toLowerCase() === name || known.name.fr === name,
  )?.tag;
}
