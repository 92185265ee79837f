import { AssignerProtocol, type Assignment, type PartitionAssigner } from 'kafkajs';

/**
 * Spreads sources (topics) over the journal processes of a consumer group. Every source lives
 * on partition 0 of its topic, so kafkajs' round-robin over all partitions would be wrong:
 * topics auto-created with several partitions (librdkafka's mock cluster makes 4) would put
 * every partition 0 on the same member. This gives each topic, all of its partitions
 * together, to the least loaded member subscribed to it (ties broken by member id), topics
 * taken in name order - deterministic, so an unchanged group keeps its assignment.
 */
export const SourcePartitionAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'TidemarkSourceAssigner',
  version: 0,
  async assign({ members, topics }) {
    const subscriptions = new Map<string, Set<string>>();
    for (const m of members) {
      const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
      subscriptions.set(m.memberId, new Set(meta?.topics ?? []));
    }
    const memberIds = members.map((m) => m.memberId).sort(byCodeUnits);
    const load = new Map<string, number>(memberIds.map((id) => [id, 0]));
    const assignment = new Map<string, Assignment>(memberIds.map((id) => [id, {}]));
    for (const topic of [...topics].sort(byCodeUnits)) {
      const eligible = memberIds.filter((id) => subscriptions.get(id)?.has(topic));
      let chosen: string | undefined;
      for (const id of eligible) if (chosen === undefined || load.get(id)! < load.get(chosen)!) chosen = id;
      if (chosen === undefined) continue;
      const partitions = cluster
        .findTopicPartitionMetadata(topic)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      if (partitions.length === 0) continue;
      assignment.get(chosen)![topic] = partitions;
      load.set(chosen, load.get(chosen)! + 1);
    }
    return memberIds.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId)!,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: 'TidemarkSourceAssigner',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
