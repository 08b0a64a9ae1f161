import { describe, expect, it } from 'vitest';
import { foldText, searchTerms } from '../src/domain/fold.js';

describe('Vietnamese name folding', () => {
  it.each([
    ['Sở Tài chính', 'so tai chinh'],
    ['SỞ TÀI CHÍNH', 'so tai chinh'],
    ['Ủy ban nhân dân tỉnh Hải Dương', 'uy ban nhan dan tinh hai duong'],
    ['Đài Phát thanh và Truyền hình', 'dai phat thanh va truyen hinh'],
    ['  Sở   Nội vụ ', 'so noi vu'],
    ['Thượng khẩn', 'thuong khan'],
    ['Hỏa tốc', 'hoa toc'],
  ])('%s → %s', (input, folded) => {
    expect(foldText(input)).toBe(folded);
  });

  it('folds decomposed (NFD) input the same as composed', () => {
    expect(foldText('Sở Tài chính'.normalize('NFD'))).toBe('so tai chinh');
  });

  it('splits a query into folded words', () => {
    expect(searchTerms(' Tài  CHÍNH ')).toEqual(['tai', 'chinh']);
    expect(searchTerms('')).toEqual([]);
  });
});
