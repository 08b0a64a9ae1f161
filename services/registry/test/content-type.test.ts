import { describe, expect, it } from 'vitest';
import { accepts, isMediaTypePattern, normalizeMediaType } from '../src/domain/content-type.js';

describe('content type matching', () => {
  it('matches exact types, type wildcards and */*', () => {
    expect(accepts(['application/json'], 'application/json')).toBe(true);
    expect(accepts(['application/*'], 'application/edxml+xml')).toBe(true);
    expect(accepts(['*/*'], 'text/plain')).toBe(true);
    expect(accepts(['application/json'], 'text/plain')).toBe(false);
    expect(accepts([], 'application/json')).toBe(false);
  });

  it('ignores parameters and case', () => {
    expect(normalizeMediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(accepts(['application/json'], 'application/json; charset=utf-8')).toBe(true);
  });

  it('validates patterns', () => {
    expect(isMediaTypePattern('application/edxml+xml')).toBe(true);
    expect(isMediaTypePattern('*/*')).toBe(true);
    expect(isMediaTypePattern('json')).toBe(false);
    expect(isMediaTypePattern('*/json')).toBe(false);
  });
});
