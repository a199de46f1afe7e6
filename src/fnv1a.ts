// FNV-1a, 32 bits: a small, fast, non-cryptographic string hash that is the same on every machine. Used for
// stable buckets (A/B variants, template choice), seeds, feature hashing and the import's id bookkeeping.

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** The hash of a string's UTF-16 code units (its bytes, for ASCII text). */
export function fnv1a(text: string): number {
  let hash = FNV_OFFSET;
  for (let index = 0; index < text.length; index++)
    hash = Math.imul(hash ^ text.charCodeAt(index), FNV_PRIME);
  return hash >>> 0;
}
