import path from 'node:path';
import { type KeyProvider, LocalObjectStore, type ObjectStore } from '@tidemark/shared';
import type { FastifyBaseLogger } from 'fastify';
import { AuditLog } from './api/audit-log.js';
import type { AuditPorts, SignedReportEnvelope } from './api/audit-ports.js';
import type { JournalCatalog } from './engine/journal-catalog.js';
import type { RegionCatalogs } from './engine/region-catalogs.js';
import { FALLBACK_LOCATION, PRIMARY_LOCATION, ReportLocations } from './engine/report-locations.js';
import { ReportSigner } from './engine/report-signer.js';
import { SegmentListing } from './engine/segment-listing.js';
import { VerificationService } from './engine/verification-service.js';

export interface AuditWiringOptions {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly regions: RegionCatalogs;
  readonly keys?: KeyProvider;
  /** where the generated signing key and audit.log live */
  readonly dataDir: string;
  /** TIDEMARK_REPORT_SIGNING_KEY_FILE */
  readonly reportSigningKeyFile?: string;
  readonly logger: FastifyBaseLogger;
}

export type AuditWiring = AuditPorts & { readonly log: AuditLog; readonly signer: ReportSigner };

/** The auditor's side of the restore service: signer, verifications, reports, segment listing, audit log. */
export async function buildAuditWiring(opts: AuditWiringOptions): Promise<AuditWiring> {
  const signer = await ReportSigner.load({
    dataDir: opts.dataDir,
    ...(opts.reportSigningKeyFile ? { keyFile: opts.reportSigningKeyFile } : {}),
  });
  const raw = Buffer.from(String(signer.publicKey.export({ format: 'jwk' }).x), 'base64url').toString(
    'base64',
  );
  opts.logger.info(
    {
      fingerprint: signer.fingerprint,
      publicKey: raw,
      keyFile: signer.origin.file,
      generated: signer.origin.generated,
    },
    signer.origin.generated
      ? `generated a report signing key in ${signer.origin.file}; reports verify with public key ${raw}`
      : 'report signing key loaded',
  );
  // reports live next to the journal they describe; `local-reports/` in the data directory
  // takes those whose store refuses them (docs/architecture.md, "Verification, signed reports")
  const reports = new ReportLocations(
    [
      { name: PRIMARY_LOCATION, store: opts.store, sources: () => opts.catalog.listSourceNames() },
      ...opts.regions.views().map((v) => ({
        name: v.region ?? '',
        store: v.store,
        sources: () => v.catalog.listSourceNames(),
      })),
    ],
    { name: FALLBACK_LOCATION, store: new LocalObjectStore(path.join(opts.dataDir, 'local-reports')) },
    opts.logger.child({ component: 'reports' }),
  );
  const verifications = new VerificationService({
    resolve: (region) => {
      const v = opts.regions.resolve(region, 'region');
      return { store: v.store, catalog: v.catalog };
    },
    reports,
    signer,
    ...(opts.keys ? { keys: opts.keys } : {}),
    logger: opts.logger.child({ component: 'verification' }),
  });
  const segments = new SegmentListing(opts.store, opts.catalog);
  const log = new AuditLog(path.join(opts.dataDir, 'audit.log'));
  return {
    signer,
    log,
    verifications,
    segments,
    auditLog: log,
    reports: {
      list: (source, page) => reports.list(source, page),
      get: async (id) => (await reports.get(id)) as SignedReportEnvelope,
      publicKey: () => ({
        algorithm: 'Ed25519',
        fingerprint: signer.fingerprint,
        pem: signer.publicKeyPem,
        base64: raw,
      }),
    },
  };
}
