/**
 * What a recommended item has in common with an evidence item, for a sentence to name: the people both
 * credit (director, cast, writer, artist), the genres both carry, and the themes both descriptions or tag
 * lists speak of. Themes come from a small lexicon (each with its words in the languages the templates
 * speak), so a sentence says "both are about revenge", never a stray word the two blurbs happen to share.
 * Pure.
 */

/** The parts of an item the traits are read from. */
export interface TraitSource {
  genres: readonly string[];
  tags?: readonly string[] | undefined;
  credits?: readonly { name: string; role: string }[] | undefined;
  description?: string | null | undefined;
}

export type PersonRole = 'director' | 'cast' | 'writer' | 'artist';

export interface SharedTraits {
  /** People credited on both, directors first. */
  people: { name: string; role: PersonRole }[];
  /** Genres of the item that the evidence has too, in the item's order. */
  genres: string[];
  /** Themes both speak of. */
  themes: Theme[];
}

export interface Theme {
  id: string;
  en: string;
  fr: string;
}

/**
 * A theme, its names, and the word stems (lower case, at a word start) that reveal it in English text. The
 * most specific come first: a sentence names the first one or two both items share.
 */
const THEME_LEXICON: readonly (Theme & { stems: readonly string[] })[] = [
  { id: 'revenge', en: 'revenge', fr: 'la vengeance', stems: ['reveng', 'aveng', 'vengeanc', 'vendetta'] },
  { id: 'heist', en: 'a heist', fr: 'un casse', stems: ['heist', 'robber', 'bank job', 'thieves', 'thief'] },
  { id: 'war', en: 'war', fr: 'la guerre', stems: ['war ', 'wartime', 'battlefield', 'soldier', 'army'] },
  { id: 'murder', en: 'a murder', fr: 'un meurtre', stems: ['murder', 'killer', 'homicid'] },
  { id: 'serial-killer', en: 'a serial killer', fr: 'un tueur en série', stems: ['serial killer'] },
  {
    id: 'space',
    en: 'space',
    fr: 'l’espace',
    stems: ['outer space', 'spaceship', 'astronaut', 'space station', 'galaxy', 'planet'],
  },
  { id: 'aliens', en: 'aliens', fr: 'des extraterrestres', stems: ['alien', 'extraterrestrial'] },
  {
    id: 'time-travel',
    en: 'time travel',
    fr: 'le voyage dans le temps',
    stems: ['time travel', 'time machine', 'time loop'],
  },
  { id: 'zombies', en: 'zombies', fr: 'des zombies', stems: ['zombie', 'undead'] },
  { id: 'vampires', en: 'vampires', fr: 'des vampires', stems: ['vampire'] },
  { id: 'ghosts', en: 'ghosts', fr: 'des fantômes', stems: ['ghost', 'haunt', 'poltergeist'] },
  { id: 'witchcraft', en: 'witchcraft', fr: 'la sorcellerie', stems: ['witch', 'sorcer', 'warlock'] },
  {
    id: 'robots',
    en: 'robots and AI',
    fr: 'les robots et l’IA',
    stems: ['robot', 'android', 'artificial intelligence', 'cyborg'],
  },
  {
    id: 'detective',
    en: 'a detective’s case',
    fr: 'une enquête',
    stems: ['detective', 'investigat', 'sleuth', 'inspector'],
  },
  {
    id: 'crime-family',
    en: 'organised crime',
    fr: 'le crime organisé',
    stems: ['mafia', 'mob boss', 'gangster', 'cartel', 'drug lord', 'crime family'],
  },
  { id: 'prison', en: 'prison', fr: 'la prison', stems: ['prison', 'inmate', 'jail', 'convict'] },
  {
    id: 'apocalypse',
    en: 'the end of the world',
    fr: 'la fin du monde',
    stems: ['apocalyp', 'post-apocalyptic', 'end of the world', 'doomsday'],
  },
  { id: 'dystopia', en: 'a dystopia', fr: 'une dystopie', stems: ['dystop', 'totalitarian'] },
  {
    id: 'pandemic',
    en: 'an epidemic',
    fr: 'une épidémie',
    stems: ['pandemic', 'epidemic', 'virus', 'outbreak', 'plague'],
  },
  {
    id: 'spies',
    en: 'espionage',
    fr: 'l’espionnage',
    stems: ['spy', 'spies', 'espionage', 'secret agent', 'cia ', 'mi6'],
  },
  { id: 'terrorism', en: 'terrorism', fr: 'le terrorisme', stems: ['terroris'] },
  {
    id: 'superheroes',
    en: 'superheroes',
    fr: 'des super-héros',
    stems: ['superhero', 'superpower', 'super power'],
  },
  { id: 'magic', en: 'magic', fr: 'la magie', stems: ['magic', 'wizard', 'spellcast'] },
  { id: 'dragons', en: 'dragons', fr: 'des dragons', stems: ['dragon'] },
  {
    id: 'coming-of-age',
    en: 'growing up',
    fr: 'le passage à l’âge adulte',
    stems: ['coming-of-age', 'coming of age', 'teenager', 'adolescen', 'high school'],
  },
  {
    id: 'sport',
    en: 'sport',
    fr: 'le sport',
    stems: [
      'football',
      'soccer',
      'basketball',
      'baseball',
      'boxing',
      'boxer',
      'athlete',
      'olympic',
      'tennis',
    ],
  },
  {
    id: 'music',
    en: 'music',
    fr: 'la musique',
    stems: ['musician', 'singer', 'band ', 'rock star', 'concert', 'rapper'],
  },
  {
    id: 'cooking',
    en: 'food and cooking',
    fr: 'la cuisine',
    stems: ['chef', 'cooking', 'culinary', 'restaurant', 'baking'],
  },
  {
    id: 'politics',
    en: 'politics',
    fr: 'la politique',
    stems: ['politic', 'president', 'election', 'senator', 'congress'],
  },
  {
    id: 'journalism',
    en: 'journalism',
    fr: 'le journalisme',
    stems: ['journalist', 'reporter', 'newspaper'],
  },
  {
    id: 'law',
    en: 'the law and the courts',
    fr: 'la justice',
    stems: ['lawyer', 'attorney', 'courtroom', 'trial', 'judge'],
  },
  { id: 'royalty', en: 'royalty', fr: 'la royauté', stems: ['king', 'queen', 'prince', 'royal', 'throne'] },
  {
    id: 'western',
    en: 'the Old West',
    fr: 'le Far West',
    stems: ['cowboy', 'outlaw', 'frontier', 'wild west'],
  },
  {
    id: 'ocean',
    en: 'the sea',
    fr: 'la mer',
    stems: ['ocean', 'sea ', 'ship', 'sailor', 'submarine', 'pirate'],
  },
  {
    id: 'road-trip',
    en: 'a road trip',
    fr: 'un road trip',
    stems: ['road trip', 'cross-country', 'journey across'],
  },
  { id: 'wedding', en: 'a wedding', fr: 'un mariage', stems: ['wedding', 'bride', 'groom'] },
  { id: 'christmas', en: 'Christmas', fr: 'Noël', stems: ['christmas', 'santa', 'holiday season'] },
  { id: 'addiction', en: 'addiction', fr: 'l’addiction', stems: ['addict', 'drug', 'alcohol', 'rehab'] },
  {
    id: 'grief',
    en: 'grief',
    fr: 'le deuil',
    stems: ['grief', 'grieving', 'mourning', 'death of', 'loss of'],
  },
  { id: 'conspiracy', en: 'a conspiracy', fr: 'un complot', stems: ['conspirac', 'cover-up', 'cover up'] },
  { id: 'hacking', en: 'hackers', fr: 'le piratage', stems: ['hacker', 'hacking', 'cyber'] },
  {
    id: 'martial-arts',
    en: 'martial arts',
    fr: 'les arts martiaux',
    stems: ['martial art', 'kung fu', 'karate', 'samurai', 'ninja'],
  },
  {
    id: 'cars',
    en: 'cars and racing',
    fr: 'les voitures et la course',
    stems: ['racing', 'race car', 'street race', 'driver'],
  },
  { id: 'monsters', en: 'monsters', fr: 'des monstres', stems: ['monster', 'creature', 'beast'] },
  { id: 'cults', en: 'a cult', fr: 'une secte', stems: ['cult ', 'cults', 'sect '] },
  { id: 'immigration', en: 'immigration', fr: 'l’immigration', stems: ['immigra', 'refugee'] },
  {
    id: 'business',
    en: 'business',
    fr: 'les affaires',
    stems: ['entrepreneur', 'startup', 'wall street', 'ceo', 'corporat'],
  },
  { id: 'love', en: 'love', fr: 'l’amour', stems: ['love', 'romance', 'romantic', 'fall for', 'falls for'] },
  { id: 'survival', en: 'survival', fr: 'la survie', stems: ['surviv', 'stranded', 'castaway'] },
  { id: 'friendship', en: 'friendship', fr: 'l’amitié', stems: ['friendship', 'best friend'] },
  { id: 'family', en: 'family', fr: 'la famille', stems: ['family', 'families'] },
  {
    id: 'school',
    en: 'school life',
    fr: 'la vie scolaire',
    stems: ['school', 'college', 'university', 'campus'],
  },
  { id: 'medicine', en: 'medicine', fr: 'la médecine', stems: ['doctor', 'hospital', 'surgeon', 'nurse'] },
  {
    id: 'police',
    en: 'the police',
    fr: 'la police',
    stems: ['police', 'cop ', 'cops', 'sheriff', 'officer'],
  },
  {
    id: 'history',
    en: 'history',
    fr: 'l’histoire',
    stems: ['historical', 'true story', 'world war', 'century', 'ancient'],
  },
  { id: 'animals', en: 'animals', fr: 'les animaux', stems: ['dog', 'cat ', 'horse', 'animal', 'wildlife'] },
  {
    id: 'nature',
    en: 'nature',
    fr: 'la nature',
    stems: ['wilderness', 'jungle', 'forest', 'mountain', 'climate'],
  },
  { id: 'identity', en: 'identity', fr: 'l’identité', stems: ['identity', 'amnesia', 'double life'] },
];

/** Longest text read per item: descriptions are a paragraph; a longer one is not read further. */
const MAX_TEXT = 4_000;

function themesOf(source: TraitSource): Set<string> {
  const text = ` ${[source.description ?? '', ...(source.tags ?? []), ...source.genres].join(' ')} `
    .slice(0, MAX_TEXT)
    .toLowerCase()
    .replace(/[^\p{L}\p{N}'’-]+/gu, ' ');
  const found = new Set<string>();
  for (const theme of THEME_LEXICON)
    if (theme.stems.some((stem) => text.includes(` ${stem}`))) found.add(theme.id);
  return found;
}

function roleOf(role: string): PersonRole | undefined {
  const lower = role.toLowerCase();
  if (lower.includes('direct')) return 'director';
  if (/act|cast|star|voice|lead/.test(lower)) return 'cast';
  if (/writ|screenplay|author|creator/.test(lower)) return 'writer';
  if (/artist|host|band|perform|singer|composer|presenter|narrat/.test(lower)) return 'artist';
  return undefined;
}

const ROLE_ORDER: Record<PersonRole, number> = { director: 0, cast: 1, writer: 2, artist: 3 };
const fold = (text: string) => text.normalize('NFKC').trim().toLowerCase();

export function sharedTraits(item: TraitSource, evidence: TraitSource): SharedTraits {
  const theirPeople = new Set((evidence.credits ?? []).map((credit) => fold(credit.name)));
  const seen = new Set<string>();
  const people: SharedTraits['people'] = [];
  for (const credit of item.credits ?? []) {
    const key = fold(credit.name);
    const role = roleOf(credit.role);
    if (!role || seen.has(key) || !theirPeople.has(key)) continue;
    seen.add(key);
    people.push({ name: credit.name.trim(), role });
  }
  people.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role]);
  const theirGenres = new Set(evidence.genres.map(fold));
  const genres = item.genres.filter((genre) => theirGenres.has(fold(genre)));
  const theirThemes = themesOf(evidence);
  const mine = themesOf(item);
  const themes = THEME_LEXICON.filter((theme) => mine.has(theme.id) && theirThemes.has(theme.id)).map(
    ({ id, en, fr }) => ({ id, en, fr }),
  );
  return { people, genres, themes };
}
