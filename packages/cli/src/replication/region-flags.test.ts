import { describe, expect, it } from 'vitest';
import { restoreBody } from '../client/restore-command.js';

describe('tidemark restore --region', () => {
  it('sends the region as "from", and nothing without it', () => {
    const base = { source: 'main', latest: true, into: 'postgres://u:p@h/db' };
    expect(restoreBody({ ...base, region: 'eu-west' })).toEqual({
      source: 'main',
      from: 'eu-west',
      target: { latest: true },
      into: { url: 'postgres://u:p@h/db' },
    });
    expect(restoreBody(base)).not.toHaveProperty('from');
  });
});
