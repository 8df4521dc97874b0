/**
 * The built-in Windows Update policy values that point the Windows Update Agent at the site
 * (WindowsUpdate.admx's "Specify intranet Microsoft update service location", "Enable
 * client-side targeting", "Configure Automatic Updates", "Automatic Updates detection
 * frequency", and AcceptTrustedPublisherCerts). They are written as registry values, never as an
 * ADMX of upcat's own: every Windows ships WindowsUpdate.admx, and a second definition of the
 * same keys would confuse the policy editors.
 */
import { dword, sz, type RegistryEntry } from './registry.js';

export const WU_KEY = 'Software\\Policies\\Microsoft\\Windows\\WindowsUpdate';
export const AU_KEY = `${WU_KEY}\\AU`;

/** AUOptions: 2 notify before download, 3 download and notify, 4 download and schedule the install, 5 local admin chooses. */
export type AuOption = 2 | 3 | 4 | 5;

export interface WindowsUpdatePolicy {
  /** WUServer and WUStatusServer: where the agent detects and reports. */
  serverUrl: string;
  /** UpdateServiceUrlAlternate: where it downloads content from. */
  downloadUrl: string;
  /** Client-side targeting: group names separated by `;` (TargetGroup), or none. */
  targetGroup?: string;
  auOption: AuOption;
  /** 0 every day, 1-7 Sunday to Saturday (AUOptions 4 only). */
  scheduledInstallDay: number;
  /** Hour of the day, 0-23 (AUOptions 4 only). */
  scheduledInstallTime: number;
  /** Hours between detections, 1-22 (the agent subtracts up to 20% at random). */
  detectionFrequencyHours: number;
}

export function windowsUpdateEntries(p: WindowsUpdatePolicy): RegistryEntry[] {
  const targeting =
    p.targetGroup === undefined
      ? [dword(WU_KEY, 'TargetGroupEnabled', 0)]
      : [dword(WU_KEY, 'TargetGroupEnabled', 1), sz(WU_KEY, 'TargetGroup', p.targetGroup)];
  return [
    sz(WU_KEY, 'WUServer', p.serverUrl),
    sz(WU_KEY, 'WUStatusServer', p.serverUrl),
    sz(WU_KEY, 'UpdateServiceUrlAlternate', p.downloadUrl),
    ...targeting,
    // Updates signed by a certificate in the machine's Trusted Publishers store (upcat's
    // publisher certificate) are accepted, not only Microsoft-signed ones.
    dword(WU_KEY, 'AcceptTrustedPublisherCerts', 1),
    // Without UseWUServer = 1 the agent ignores WUServer.
    dword(AU_KEY, 'UseWUServer', 1),
    dword(AU_KEY, 'NoAutoUpdate', 0),
    dword(AU_KEY, 'AUOptions', p.auOption),
    dword(AU_KEY, 'ScheduledInstallDay', p.scheduledInstallDay),
    dword(AU_KEY, 'ScheduledInstallTime', p.scheduledInstallTime),
    dword(AU_KEY, 'DetectionFrequencyEnabled', 1),
    dword(AU_KEY, 'DetectionFrequency', p.detectionFrequencyHours),
  ];
}
