// The options of an import, checked in one place for the route (query parameters), the CLI (its options)
// and the runner: the route and the CLI turn the problems into their own words (query.mode, --mode).
import { IMPORT_KINDS, type ImportKind } from './import-records.ts';
import { MappingError, type Mapping, parseMapping } from './mapping.ts';
import { IMPORT_FORMATS, type ImportFormat } from './record-reader.ts';

/**
 * upsert: a record updates only the fields it holds (a partial mapping never blanks the others; null clears a
 * field), and creates what does not exist. replace: a record replaces the whole item or user. sync: replace,
 * then delete what the file does not hold.
 */
export const IMPORT_MODES = ['upsert', 'replace', 'sync'] as const;
export type ImportMode = (typeof IMPORT_MODES)[number];

export { IMPORT_FORMATS, IMPORT_KINDS };

/** The options as a caller gives them, before any check. */
export interface ImportOptionsInput {
  kind: string;
  format?: string | undefined;
  mode?: string | undefined;
  /** `target=expression` pairs separated by commas, or an object of them (a mapping file). */
  map?: string | Record<string, unknown> | undefined;
  maxDeletePercent?: number | undefined;
  force?: boolean | undefined;
}

export interface ImportOptions {
  kind: ImportKind;
  format: ImportFormat;
  mode: ImportMode;
  mapping?: Mapping | undefined;
  /** The mapping as given, kept with the import for the record. */
  mappingSpec?: unknown;
  maxDeletePercent?: number | undefined;
  force?: boolean | undefined;
}

export type ImportOptionName = keyof ImportOptionsInput;
export interface ImportOptionProblem {
  option: ImportOptionName;
  message: string;
}

const isOneOf = <T extends string>(values: readonly T[], value: string): value is T =>
  (values as readonly string[]).includes(value);

/** The options, checked together; or every problem, each naming its option. */
export function checkImportOptions(
  input: ImportOptionsInput,
): { options: ImportOptions } | { problems: ImportOptionProblem[] } {
  const problems: ImportOptionProblem[] = [];
  const { kind, format = 'ndjson', mode = 'upsert' } = input;
  if (!isOneOf(IMPORT_KINDS, kind))
    problems.push({ option: 'kind', message: `must be one of ${IMPORT_KINDS.join(', ')}` });
  if (!isOneOf(IMPORT_FORMATS, format))
    problems.push({ option: 'format', message: `must be one of ${IMPORT_FORMATS.join(', ')}` });
  if (!isOneOf(IMPORT_MODES, mode))
    problems.push({ option: 'mode', message: `must be one of ${IMPORT_MODES.join(', ')}` });
  else if (kind === 'events' && mode !== 'upsert')
    problems.push({ option: 'mode', message: `${mode} is for items and users: events are only ever added` });
  if (mode !== 'sync') {
    if (input.maxDeletePercent !== undefined)
      problems.push({ option: 'maxDeletePercent', message: 'only applies to mode sync' });
    if (input.force !== undefined) problems.push({ option: 'force', message: 'only applies to mode sync' });
  }
  let mapping: Mapping | undefined;
  try {
    mapping =
      input.map === undefined ? undefined : parseMapping(input.map as string | Record<string, string>);
  } catch (error) {
    if (!(error instanceof MappingError)) throw error;
    problems.push({ option: 'map', message: error.message });
  }
  if (
    problems.length > 0 ||
    !isOneOf(IMPORT_KINDS, kind) ||
    !isOneOf(IMPORT_FORMATS, format) ||
    !isOneOf(IMPORT_MODES, mode)
  )
    return { problems };
  return {
    options: {
      kind,
      format,
      mode,
      mapping,
      mappingSpec: input.map,
      maxDeletePercent: input.maxDeletePercent,
      force: input.force,
    },
  };
}
