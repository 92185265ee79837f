/**
 * PostgreSQL COPY text format, the encoder side. Values are already PostgreSQL text
 * output, so the only work is COPY's own escaping: backslash, the row and column
 * delimiters, and `\N` for SQL NULL (an empty string stays an empty field, which COPY
 * reads as ''). Pure.
 */
const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeCopyValue(value: string | null): string {
  if (value === null) return '\\N';
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c] ?? c);
}

/** One row, terminated by a newline. */
export function encodeCopyRow(values: readonly (string | null)[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += '\t';
    out += escapeCopyValue(values[i] ?? null);
  }
  return `${out}\n`;
}
