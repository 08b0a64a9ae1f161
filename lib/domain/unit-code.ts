/**
 * Unit codes (mã định danh) as QCVN 102:2016 and Thông tư 10/2016/TT-BTTTT
 * shape them: four dot-separated groups `NNN.NN.NN.XNN`, read right to left
 * from the top level (X is a letter: H for provinces, G for central
 * agencies...). A group of zeros means "this level itself".
 */

const UNIT_CODE = /^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$/;

/** Trims and upper-cases the level-1 letter; does not validate. */
export function normalizeUnitCode(raw: string): string {
  return raw.trim().toUpperCase();
}

/** Why a code is malformed, or undefined when it is well-formed. */
export function unitCodeProblem(code: string): string | undefined {
  if (code === '') return 'is required';
  if (UNIT_CODE.test(code)) return undefined;
  const groups = code.split('.');
  if (groups.length !== 4) {
    return `must have four dot-separated groups NNN.NN.NN.XNN (e.g. 000.00.03.H26), got ${groups.length}`;
  }
  const [g4, g3, g2, g1] = groups as [string, string, string, string];
  if (!/^\d{3}$/.test(g4)) return `first group must be three digits, got "${g4}"`;
  if (!/^\d{2}$/.test(g3)) return `second group must be two digits, got "${g3}"`;
  if (!/^\d{2}$/.test(g2)) return `third group must be two digits, got "${g2}"`;
  return `last group must be a letter and two digits (e.g. H26), got "${g1}"`;
}

export function isUnitCode(code: string): boolean {
  return UNIT_CODE.test(code);
}

/**
 * A zone pattern: a full code, or groups where `*` stands for any characters
 * within one group (`*.*.*.H41`, `*.*.*.G*`).
 */
export function unitCodePatternProblem(pattern: string): string | undefined {
  if (!/^[0-9A-Z*]+\.[0-9*]+\.[0-9*]+\.[0-9A-Z*]+$/.test(pattern)) {
    return 'must be four dot-separated groups of digits, letters or "*", e.g. *.*.*.H41';
  }
  return undefined;
}

export function matchesUnitCodePattern(pattern: string, code: string): boolean {
  const source = pattern
    .split('.')
    .map((group) => group.replace(/\*/g, '[0-9A-Z]*'))
    .join('\\.');
  return new RegExp(`^${source}$`).test(code);
}

/** Code prefixes a clerk may type while searching ("000.00", "000.00.0"). */
export function looksLikeCodePrefix(query: string): boolean {
  return /^\d{1,3}(\.(\d{1,2}(\.(\d{1,2}(\.([A-Za-z](\d{1,2})?)?)?)?)?)?)?$/.test(query) && query.length >= 3;
}
