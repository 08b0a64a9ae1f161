/**
 * Page tokens are opaque to clients: base64url of the next offset. A token
 * that does not decode is a client error, reported on `page_token`.
 */
import type { Violations } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface Page {
  readonly offset: number;
  readonly limit: number;
}

export function readPage(pageSize: number, pageToken: string, violations: Violations): Page {
  if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
    violations.add('page_size', `must be between 0 and ${MAX_PAGE_SIZE}`, 'PAGE_SIZE_RANGE');
  }
  const limit = pageSize <= 0 || pageSize > MAX_PAGE_SIZE ? DEFAULT_PAGE_SIZE : pageSize;
  if (pageToken === '') return { offset: 0, limit };
  const offset = decodeToken(pageToken);
  if (offset === undefined) {
    violations.add('page_token', 'is not a token returned by this API', 'PAGE_TOKEN_INVALID');
    return { offset: 0, limit };
  }
  return { offset, limit };
}

/** The token of the page after this one, or empty when this page was not full. */
export function nextPageToken(page: Page, returned: number): string {
  return returned < page.limit
    ? ''
    : Buffer.from(JSON.stringify({ o: page.offset + returned })).toString('base64url');
}

function decodeToken(token: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'o' in parsed) {
      const offset = (parsed as { o: unknown }).o;
      if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
    }
  } catch {
    // fall through: reported by the caller
  }
  return undefined;
}
