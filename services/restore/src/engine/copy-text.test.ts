import { describe, expect, it } from 'vitest';
import { encodeCopyRow, escapeCopyValue } from './copy-text.js';

describe('COPY text encoding', () => {
  it('escapes backslash, tab, newline and carriage return', () => {
    expect(escapeCopyValue('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(escapeCopyValue('\\x00ff')).toBe('\\\\x00ff');
  });
  it('writes NULL as \\N and keeps the empty string empty', () => {
    expect(encodeCopyRow([null, '', 'x'])).toBe('\\N\t\tx\n');
  });
  it('keeps a literal "\\N" text distinct from NULL', () => {
    expect(encodeCopyRow(['\\N'])).toBe('\\\\N\n');
  });
  it('passes unicode through', () => {
    expect(encodeCopyRow(['żółw 🐢', '漢字'])).toBe('żółw 🐢\t漢字\n');
  });
});
