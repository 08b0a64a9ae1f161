import { describe, expect, it } from 'vitest';
import {
  isUnitCode,
  looksLikeCodePrefix,
  matchesUnitCodePattern,
  normalizeUnitCode,
  unitCodePatternProblem,
  unitCodeProblem,
} from '#lib/domain/unit-code.js';

describe('unit codes (QCVN 102:2016)', () => {
  it.each(['000.00.00.H26', '000.00.03.H26', '000.00.00.G22', '123.45.67.A01'])('accepts %s', (code) => {
    expect(isUnitCode(code)).toBe(true);
    expect(unitCodeProblem(code)).toBeUndefined();
  });

  it.each([
    ['28.22.H17', /four dot-separated groups/],
    ['999.010.01.H22', /second group must be two digits/],
    ['00.00.00.H26', /first group must be three digits/],
    ['000.00.0.H26', /third group must be two digits/],
    ['000.00.00.226', /last group must be a letter and two digits/],
    ['000.00.00.HH6', /last group/],
    ['000.00.00.H26.1', /four dot-separated groups/],
    ['', /required/],
  ])('rejects %s with a reason', (code, reason) => {
    expect(isUnitCode(code)).toBe(false);
    expect(unitCodeProblem(code)).toMatch(reason);
  });

  it('normalises case and surrounding space only', () => {
    expect(normalizeUnitCode(' 000.00.03.h26 ')).toBe('000.00.03.H26');
  });

  it('matches zone patterns group by group', () => {
    expect(matchesUnitCodePattern('*.*.*.H41', '000.00.00.H41')).toBe(true);
    expect(matchesUnitCodePattern('*.*.*.H41', '000.00.00.H26')).toBe(false);
    expect(matchesUnitCodePattern('*.*.*.G*', '000.00.00.G22')).toBe(true);
    expect(matchesUnitCodePattern('000.00.03.H26', '000.00.03.H26')).toBe(true);
    expect(matchesUnitCodePattern('000.00.*.H26', '000.01.03.H26')).toBe(false);
    expect(unitCodePatternProblem('*.*.*.H41')).toBeUndefined();
    expect(unitCodePatternProblem('H41')).toMatch(/four/);
  });

  it('recognises code prefixes a clerk types', () => {
    expect(looksLikeCodePrefix('000.00')).toBe(true);
    expect(looksLikeCodePrefix('000.00.03.H')).toBe(true);
    expect(looksLikeCodePrefix('so tai chinh')).toBe(false);
    expect(looksLikeCodePrefix('00')).toBe(false);
  });
});
