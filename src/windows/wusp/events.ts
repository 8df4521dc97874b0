/**
 * ReportEventBatch events ([MS-WUSP] 2.2.2.3.1, EventID table) as the site's state messages
 * (site/state-messages.ts), so that `upcat report` counts what Windows Update Agents did beside
 * what upcat's agents did. Only update events about updates of this catalog become messages;
 * detection and status events (147, 148, 156, ...) are acknowledged and not stored. A
 * message's ID is derived from the event's EventInstanceID, so a batch resent after a lost
 * answer is stored once.
 */
import type { STATES } from '../../site/state-messages.js';
import type { ReportingEvent } from './contract.js';

type State = (typeof STATES)[number];

/** What each update event means, by EventID. An install that needs a reboot is installed too. */
const STATES_OF: ReadonlyMap<number, readonly State[]> = new Map<number, readonly State[]>([
  [161, ['failed']], // AGENT_DOWNLOAD_FAILED
  [162, ['downloaded']], // AGENT_DOWNLOAD_SUCCEEDED
  [164, ['downloaded']], // AGENT_DOWNLOAD_SUCCEEDED_FROM_PEER
  [167, ['downloading']], // AGENT_DOWNLOAD_STARTED
  [181, ['installing']], // AGENT_INSTALLING_STARTED
  [182, ['failed']], // AGENT_INSTALLING_FAILED
  [183, ['installed']], // AGENT_INSTALLING_SUCCEEDED
  [184, ['installed', 'reboot_pending']], // AGENT_INSTALL_COMPLETE_WITH_REBOOT
  [187, ['failed']], // AGENT_INSTALL_KILLED
  [190, ['installed']], // AU_SCHEDULED_INSTALL_SUCCESS
  [191, ['installed', 'reboot_pending']], // AU_SCHEDULED_INSTALL_COMPLETE_WITH_REBOOT
  [192, ['failed']], // AU_SCHEDULED_INSTALL_KILLED
  [195, ['failed']], // AU_SCHEDULED_INSTALL_FAILED
  [197, ['installed']], // AU_SHUTDOWN_INSTALL_SUCCESS
  [198, ['failed']], // AU_SHUTDOWN_INSTALL_FAILED
  [199, ['installed', 'reboot_pending']], // AU_SHUTDOWN_INSTALL_COMPLETE_WITH_REBOOT
  [200, ['failed']], // AU_SHUTDOWN_INSTALL_KILLED
  [203, ['failed']], // AGENT_INSTALLING_FAILED_POST_REBOOT
  [204, ['failed']],
  [221, ['failed']], // AGENT_UNINSTALLING_FAILED
  [222, ['uninstalled']], // AGENT_UNINSTALLING_SUCCEEDED
  [224, ['uninstalled', 'reboot_pending']], // AGENT_UNINSTALL_COMPLETE_WITH_REBOOT
  [225, ['failed']], // AGENT_UNINSTALL_KILLED
]);

export interface StateMessage {
  id: string;
  topic: 'update';
  updateId: string;
  revision?: number;
  state: State;
  code?: number;
  detail?: string;
  time?: string;
}

/**
 * The state messages of a batch for one computer. `knownUpdate` tells whether an update is in
 * this catalog; an event naming another computer (TargetID) than the cookie's is dropped.
 */
export function eventsToMessages(
  events: readonly ReportingEvent[],
  susClientId: string,
  knownUpdate: (updateId: string) => boolean,
): StateMessage[] {
  const out: StateMessage[] = [];
  for (const e of events) {
    const states = STATES_OF.get(e.eventId);
    if (states === undefined || e.updateId === undefined || !knownUpdate(e.updateId)) continue;
    if (e.targetSid !== undefined && e.targetSid.toLowerCase() !== susClientId) continue;
    states.forEach((state, i) => {
      const message: StateMessage = {
        id: `wusp-${e.eventInstanceId}${i === 0 ? '' : `-${state}`}`,
        topic: 'update',
        updateId: e.updateId as string,
        state,
        detail: `Windows Update Agent event ${e.eventId}${e.appName === undefined ? '' : ` (${e.appName.slice(0, 64)})`}`,
      };
      if (e.revisionNumber !== undefined && e.revisionNumber >= 1)
        message.revision = e.revisionNumber;
      if (state === 'failed' && e.win32HResult !== undefined) message.code = e.win32HResult | 0;
      if (e.timeAtTarget !== undefined) message.time = new Date(e.timeAtTarget).toISOString();
      out.push(message);
    });
  }
  return out;
}
