import type { AuditEntry } from './audit-log.js';

/** What the auditor's routes need from the engine (wired in restore-app.ts). */
export interface VerificationInput {
  readonly source: string;
  readonly from?: string;
  readonly to?: string;
  readonly region?: string;
}

export interface SignedReportEnvelope {
  readonly report: { readonly id: string; readonly ok: boolean; readonly finishedAt: string };
  readonly signature: object;
}

export interface VerificationsPort {
  /** verifies now; throws UNKNOWN_SOURCE, BAD_REQUEST (range, region) */
  run(req: VerificationInput): Promise<SignedReportEnvelope>;
  /** checks the request and starts a background verification */
  start(req: VerificationInput): Promise<object>;
  /** throws NOT_FOUND */
  get(id: string): object;
  list(): readonly object[];
}

export interface ReportsPort {
  list(
    source: string | undefined,
    page: { before?: string; limit: number },
  ): Promise<{
    items: readonly object[];
    more: boolean;
    /** report locations (primary, regions, data dir) that could not be read: listed without them */
    unreachable?: readonly { location: string; message: string }[];
  }>;
  /** throws NOT_FOUND, or STORE_UNAVAILABLE when a location that may hold it could not be read */
  get(id: string): Promise<SignedReportEnvelope>;
  publicKey(): { algorithm: 'Ed25519'; fingerprint: string; pem: string; base64: string };
}

export interface SegmentListing {
  readonly key: string;
  readonly firstLsn: string;
  readonly lastLsn: string;
  readonly firstCommitTime: string | null;
  readonly lastCommitTime: string | null;
  readonly size: number;
  readonly sha256: string | null;
}

export interface SegmentsPort {
  /** journal segments up to the tip in chain order, after key `after`; throws UNKNOWN_SOURCE */
  list(
    source: string,
    page: { after?: string; limit: number },
  ): Promise<{ items: SegmentListing[]; more: boolean }>;
}

export interface AuditLogPort {
  read(page: { after: number; limit: number }): Promise<{ entries: AuditEntry[]; next: number | null }>;
}

export interface AuditPorts {
  readonly verifications: VerificationsPort;
  readonly reports: ReportsPort;
  readonly segments: SegmentsPort;
  readonly auditLog: AuditLogPort;
}
