/**
 * Exact timestamps: µs since the Unix epoch as bigint. JS `Date` keeps only milliseconds,
 * so the fraction is never routed through it; calendar math is integer arithmetic on days
 * (Howard Hinnant's days-from-civil), which also covers dates before 1970.
 */

const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400n * MICROS_PER_SECOND;

// date, `T`/`t`/space, time, optional fraction, `Z` or an offset (±hh, ±hhmm, ±hh:mm, and
// ±hh:mm:ss, which PostgreSQL prints for historical zones with seconds in their offset)
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2})(?::(\d{2}))?)?)$/;

/**
 * Parses RFC 3339 (and PostgreSQL's ISO output, `2026-11-23 10:41:07.123456+00`) into µs
 * since the Unix epoch. Throws RangeError on anything else, on out-of-range fields and on
 * more than 6 fractional digits (which could not be kept exactly).
 */
export function parseTimestampMicros(text: string): bigint {
  const m = TIMESTAMP.exec(text);
  if (!m) {
    throw new RangeError(
      `not a timestamp: ${JSON.stringify(text)} (expected RFC 3339 such as 2026-11-23T10:41:07.123456Z)`,
    );
  }
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const fraction = m[7] ?? '';
  const bad = (what: string) => new RangeError(`timestamp ${JSON.stringify(text)}: ${what}`);
  if (month < 1 || month > 12) throw bad(`month ${month} is not 1-12`);
  const dim = daysInMonth(year, month);
  if (day < 1 || day > dim) throw bad(`day ${day} is not 1-${dim}`);
  if (hour > 23) throw bad(`hour ${hour} is not 0-23`);
  if (minute > 59) throw bad(`minute ${minute} is not 0-59`);
  // leap seconds (60) are rejected: PostgreSQL never prints them and they have no µs value
  if (second > 59) throw bad(`second ${second} is not 0-59`);
  if (fraction.length > 6) throw bad(`more than 6 fractional digits cannot be kept exactly`);

  let offsetSeconds = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? '0');
    const os = Number(m[12] ?? '0');
    if (oh > 23 || om > 59 || os > 59) throw bad('offset out of range');
    offsetSeconds = (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60 + os);
  }
  const days = daysFromCivil(year, month, day);
  const seconds = hour * 3600 + minute * 60 + second - offsetSeconds;
  const micros = BigInt(fraction.padEnd(6, '0') || '0');
  return BigInt(days) * MICROS_PER_DAY + BigInt(seconds) * MICROS_PER_SECOND + micros;
}

/** `2026-11-23T10:41:07.123456Z`: always UTC and always 6 fractional digits. */
export function formatTimestampMicros(us: bigint): string {
  // floor division so that instants before 1970 land on the right day and second
  let days = us / MICROS_PER_DAY;
  let rest = us % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const { year, month, day } = civilFromDays(Number(days));
  if (year < 0 || year > 9999) throw new RangeError(`timestamp ${us} µs is outside years 0000-9999`);
  const secondsOfDay = Number(rest / MICROS_PER_SECOND);
  const micros = Number(rest % MICROS_PER_SECOND);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const h = Math.floor(secondsOfDay / 3600);
  const mi = Math.floor((secondsOfDay % 3600) / 60);
  const s = secondsOfDay % 60;
  return `${p(year, 4)}-${p(month)}-${p(day)}T${p(h)}:${p(mi)}:${p(s)}.${p(micros, 6)}Z`;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeapYear(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(z0: number): { year: number; month: number; day: number } {
  const z = z0 + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}
