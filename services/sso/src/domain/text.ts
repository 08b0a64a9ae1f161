/**
 * Vietnamese text folded for search: no diacritics (đ → d), lower case,
 * single spaces, so "Nguyễn Văn A" and "nguyen van a" match.
 */
export function foldText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/đ/g, 'd')
    .replace(/Đ/g, 'D')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}
