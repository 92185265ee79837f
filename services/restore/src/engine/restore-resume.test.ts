import { parseLsn } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from './journal-reader.js';
import { checkpointOf, decideResume, entriesAfter, resumedTarget } from './restore-resume.js';

const CREATED = { targetCreated: true, existingSchemas: [] };

describe('decideResume', () => {
  it('starts a restore again when it never got to write into the target', () => {
    expect(decideResume(undefined, undefined)).toEqual({ kind: 'fresh' });
    // a progress row without a checkpoint cannot be ours: the checkpoint is written first
    expect(decideResume(undefined, '0/1000')).toEqual({ kind: 'fresh' });
  });

  it('continues the replay after the progress row once the snapshot was loaded', () => {
    expect(decideResume(CREATED, '0/16B3748')).toEqual({ kind: 'continue', afterLsn: '0/16B3748' });
  });

  it('cleans and starts over when the crash came during the snapshot load', () => {
    expect(decideResume({ targetCreated: false, existingSchemas: ['public'] }, undefined)).toEqual({
      kind: 'start-over',
      prepared: { created: false, existingSchemas: ['public'] },
    });
  });
});

describe('resumedTarget', () => {
  it('keeps a latest target where the first attempt resolved it', () => {
    const cp = checkpointOf({ created: true, existingSchemas: [] }, parseLsn('0/5000'));
    expect(cp).toEqual({ targetCreated: true, existingSchemas: [], pinnedLsn: '0/5000' });
    expect(resumedTarget({ kind: 'latest' }, cp)).toEqual({ kind: 'lsn', lsn: 0x5000n });
    expect(resumedTarget({ kind: 'latest' }, undefined)).toEqual({ kind: 'latest' });
    expect(resumedTarget({ kind: 'lsn', lsn: 7n }, cp)).toEqual({ kind: 'lsn', lsn: 7n });
  });
});

describe('entriesAfter', () => {
  it('skips every record at or below the LSN the target holds', async () => {
    async function* entries(): AsyncGenerator<JournalEntry> {
      for (const lsn of [0x10n, 0x20n, 0x30n, 0x40n])
        yield { record: { commitLsn: lsn } as JournalEntry['record'], segmentKey: 's', offset: 0 };
    }
    const seen: bigint[] = [];
    for await (const e of entriesAfter(entries(), 0x20n)) seen.push(e.record.commitLsn);
    expect(seen).toEqual([0x30n, 0x40n]);
  });
});
