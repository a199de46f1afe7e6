// The README tour's shell blocks as something a test can run: commands in order, each with the sample answer
// the README shows under it (`# → [status] {json with …}`), and a matcher for those samples.

/** `…` where a value is: anything goes there. */
const ANY = Symbol('any');

export type SamplePattern =
  | typeof ANY
  | string
  | number
  | boolean
  | null
  | { kind: 'placeholder'; text: string }
  | { kind: 'number'; value: number }
  | { kind: 'array'; elements: SamplePattern[] }
  | { kind: 'object'; members: [string, SamplePattern][] };

export interface TourCommand {
  /** The command as the README writes it (continuations joined). */
  command: string;
  /** Whether it calls the API (mq or curl): only calls have answers to check. */
  isCall: boolean;
  sample?: { status?: number | undefined; body?: SamplePattern | undefined; events?: string[] | undefined };
}

/** The ```sh blocks between two headings of a Markdown file (the first included, the second not). */
export function shellBlocks(markdown: string, from: string, to: string): string[] {
  const start = markdown.indexOf(`\n${from}\n`);
  const end = markdown.indexOf(`\n${to}\n`, start);
  if (start === -1 || end === -1) throw new Error(`no section from ${from} to ${to}`);
  const section = markdown.slice(start, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
}

/** A block's commands in order, with continuation lines and multi-line quotes joined, samples attached. */
export function tourCommands(block: string): TourCommand[] {
  const commands: TourCommand[] = [];
  const lines = block.split('\n');
  let sampleLines: string[] | undefined;
  const closeSample = () => {
    const last = commands.at(-1);
    if (sampleLines && last) last.sample = parseSample(sampleLines);
    sampleLines = undefined;
  };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    const trimmed = line.trim();
    if (trimmed.startsWith('# →')) {
      closeSample();
      sampleLines = [trimmed.slice(3).trim()];
      continue;
    }
    if (sampleLines && /^#\s{2,}\S/.test(trimmed)) {
      sampleLines.push(trimmed.slice(1).trim());
      continue;
    }
    if (/^# event:/.test(trimmed)) {
      if (!sampleLines) sampleLines = [];
      sampleLines.push(trimmed.slice(1).trim());
      continue;
    }
    closeSample();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    let command = line;
    while (needsMore(command) && index + 1 < lines.length) command += `\n${lines[++index]}`;
    commands.push({ command, isCall: /^(mq|curl)\s/.test(command.trim()) });
  }
  closeSample();
  return commands;
}

/** An unclosed single quote, or a trailing backslash: the command goes on on the next line. */
function needsMore(command: string): boolean {
  let quoted = false;
  for (let index = 0; index < command.length; index++) {
    const char = command[index];
    if (char === "'" && (index === 0 || command[index - 1] !== '\\' || quoted)) quoted = !quoted;
    else if (char === '#' && !quoted && (index === 0 || /\s/.test(command[index - 1] ?? ''))) {
      const lineEnd = command.indexOf('\n', index);
      index = lineEnd === -1 ? command.length : lineEnd - 1;
    }
  }
  return quoted || /\\\s*$/.test(command.replace(/\s+#[^\n']*$/, ''));
}

function parseSample(lines: string[]): TourCommand['sample'] {
  if (lines.every((line) => line.startsWith('event:')))
    return { events: lines.map((line) => /^event:\s*(\S+)/.exec(line)?.[1] ?? '') };
  let text = lines.join(' ').trim();
  let status: number | undefined;
  const statusMatch = /^(\d{3})\b\s*/.exec(text);
  if (statusMatch) {
    status = Number(statusMatch[1]);
    text = text.slice(statusMatch[0].length);
  }
  return { status, body: text === '' ? undefined : new SampleParser(text).parse() };
}

/** JSON, plus `…`: as a value (anything), as the last member or element (more may follow), inside a string. */
class SampleParser {
  #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): SamplePattern {
    const value = this.#value();
    this.#space();
    if (this.#at < this.#text.length) throw this.#error('trailing text');
    return value;
  }

  #error(what: string) {
    return new Error(`sample: ${what} at ${this.#at}: ${this.#text.slice(this.#at, this.#at + 40)}`);
  }

  #space() {
    while (/\s/.test(this.#text[this.#at] ?? '')) this.#at++;
  }

  #value(): SamplePattern {
    this.#space();
    const char = this.#text[this.#at];
    if (char === '…') {
      this.#at++;
      return ANY;
    }
    if (char === '{') return this.#object();
    if (char === '[') return this.#array();
    if (char === '"') return this.#string();
    const literal = /^(true|false|null|-?\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(this.#text.slice(this.#at));
    if (!literal) throw this.#error('a value');
    this.#at += literal[0].length;
    if (literal[1] === 'true') return true;
    if (literal[1] === 'false') return false;
    if (literal[1] === 'null') return null;
    return { kind: 'number', value: Number(literal[1]) };
  }

  #string(): SamplePattern {
    let value = '';
    this.#at++;
    for (;;) {
      const char = this.#text[this.#at++];
      if (char === undefined) throw this.#error('an unclosed string');
      if (char === '"') break;
      if (char === '\\') {
        const escaped = this.#text[this.#at++];
        value += escaped === 'n' ? '\n' : (escaped ?? '');
      } else value += char;
    }
    return value.includes('…') ? { kind: 'placeholder', text: value } : value;
  }

  #object(): SamplePattern {
    const members: [string, SamplePattern][] = [];
    this.#at++;
    for (;;) {
      this.#space();
      const char = this.#text[this.#at];
      if (char === '}') {
        this.#at++;
        return { kind: 'object', members };
      }
      if (char === '…') {
        this.#at++;
        continue;
      }
      if (char === ',') {
        this.#at++;
        continue;
      }
      const key = this.#string();
      if (typeof key !== 'string') throw this.#error('a plain key');
      this.#space();
      if (this.#text[this.#at++] !== ':') throw this.#error('":"');
      members.push([key, this.#value()]);
    }
  }

  #array(): SamplePattern {
    const elements: SamplePattern[] = [];
    this.#at++;
    for (;;) {
      this.#space();
      const char = this.#text[this.#at];
      if (char === ']') {
        this.#at++;
        return { kind: 'array', elements };
      }
      if (char === ',') {
        this.#at++;
        continue;
      }
      const value = this.#value();
      // A trailing `…` means "and more": it adds no element to check.
      if (value === ANY && this.#peekEnd()) continue;
      elements.push(value);
    }
  }

  #peekEnd(): boolean {
    this.#space();
    return this.#text[this.#at] === ']';
  }
}

/**
 * Where the answer differs from the sample's shape (undefined when it matches): objects must hold the sample's
 * keys, arrays start with its elements, strings equal it unless they hold `…` (then anything, bound to the
 * placeholder for later commands), numbers are equal.
 */
export function sampleMismatch(
  pattern: SamplePattern,
  actual: unknown,
  bind: (placeholder: string, value: string) => void,
  path = '$',
): string | undefined {
  if (pattern === ANY) return undefined;
  if (pattern === null || typeof pattern !== 'object')
    return actual === pattern
      ? undefined
      : `${path}: ${JSON.stringify(actual)} instead of ${JSON.stringify(pattern)}`;
  switch (pattern.kind) {
    case 'placeholder':
      if (typeof actual !== 'string' && typeof actual !== 'number') return `${path}: not a string`;
      // A bare `…` is anonymous: only a named placeholder ("5b0c…") is carried to later commands.
      if (pattern.text !== '…') bind(pattern.text, String(actual));
      return undefined;
    case 'number':
      return actual === pattern.value
        ? undefined
        : `${path}: ${JSON.stringify(actual)} instead of ${pattern.value}`;
    case 'array': {
      if (!Array.isArray(actual)) return `${path}: not an array`;
      if (actual.length < pattern.elements.length)
        return `${path}: ${actual.length} elements, the sample shows ${pattern.elements.length}`;
      for (const [index, element] of pattern.elements.entries()) {
        const mismatch = sampleMismatch(element, actual[index], bind, `${path}[${index}]`);
        if (mismatch) return mismatch;
      }
      return undefined;
    }
    case 'object': {
      if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
        return `${path}: not an object`;
      for (const [key, value] of pattern.members) {
        if (!Object.hasOwn(actual, key)) return `${path}.${key}: missing`;
        const mismatch = sampleMismatch(
          value,
          (actual as Record<string, unknown>)[key],
          bind,
          `${path}.${key}`,
        );
        if (mismatch) return mismatch;
      }
      return undefined;
    }
  }
}
