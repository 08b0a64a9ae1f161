/**
 * Folds Vietnamese text for search: lower case, no diacritics, "đ" as "d",
 * single spaces. "Sở Tài chính" and "so tai chinh" fold to the same string.
 */
export function foldText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** The words of a folded query, for "every word appears" matching. */
export function searchTerms(query: string): string[] {
  return foldText(query)
    .split(' ')
    .filter((word) => word.length > 0);
}
