import { AssignerProtocol, type Cluster, type Logger } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { SourcePartitionAssigner } from './source-partition-assigner.js';

/** only the metadata lookup the assigner uses: topics with 4 partitions, as the mock cluster makes them */
const cluster = {
  findTopicPartitionMetadata: (_topic: string) => [3, 1, 0, 2].map((partitionId) => ({ partitionId })),
} as unknown as Cluster;

const assigner = SourcePartitionAssigner({ cluster, groupId: 'g', logger: {} as Logger });

function member(memberId: string, topics: string[]) {
  return { memberId, memberMetadata: assigner.protocol({ topics }).metadata };
}

async function assign(members: ReturnType<typeof member>[], topics: string[]) {
  const out = await assigner.assign({ members, topics });
  return Object.fromEntries(
    out.map((a) => [a.memberId, AssignerProtocol.MemberAssignment.decode(a.memberAssignment)?.assignment]),
  );
}

describe('SourcePartitionAssigner', () => {
  it('gives each source, with all its partitions, to one member, spreading sources evenly', async () => {
    const topics = ['t.c', 't.a', 't.b', 't.d'];
    const result = await assign([member('m2', topics), member('m1', topics)], topics);
    expect(result).toEqual({
      m1: { 't.a': [0, 1, 2, 3], 't.c': [0, 1, 2, 3] },
      m2: { 't.b': [0, 1, 2, 3], 't.d': [0, 1, 2, 3] },
    });
  });

  it('respects what each member subscribed to, and leaves idle members empty', async () => {
    const result = await assign(
      [member('m1', ['t.a']), member('m2', ['t.a', 't.b']), member('m3', ['t.b'])],
      ['t.a', 't.b'],
    );
    expect(result).toEqual({ m1: { 't.a': [0, 1, 2, 3] }, m2: { 't.b': [0, 1, 2, 3] }, m3: {} });
  });
});
