/**
 * What a chat message asks for, as a structured query the engine can run. Both parsers write it: the LLM
 * (through structured output, so every field is present and "nothing said" is null or an empty list, as
 * OpenAI's strict JSON-schema mode requires) and the offline rule-based parser. Genres are the user's own
 * words ("horror", "sci-fi"); the engine resolves them against the catalog's genre labels.
 */
import { z } from 'zod';

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
