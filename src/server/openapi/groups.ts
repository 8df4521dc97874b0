import { z } from 'zod';
import { clientRefs, groupName } from '../../site/groups.js';
import {
  error,
  errors,
  etagged,
  isoTime,
  json,
  jsonBody,
  pagedList,
  pageQuery,
  token,
  trueFalse,
  type Registry,
} from './registry.js';
import { GroupWindow } from './rollouts.js';

/**
 * Groups and their members (routes/groups.ts; issue 14 item 1). Names and member lists are the
 * zod schemas site/groups.ts validates with; the route refuses any other body field.
 */

const Group = z
  .object({
    name: z.string(),
    builtin: z.boolean().describe('All Computers and Unassigned'),
    members: z.number().int().describe('live clients in the group'),
  })
  .meta({ id: 'Group' });

const Member = z.object({
  clientId: z.string(),
  name: z.string(),
  status: z.enum(['approved', 'pending', 'conflict']),
  blocked: z.boolean(),
  lastContact: isoTime.nullable(),
});

const GroupDetail = Group.extend({
  deployments: z.number().int(),
  clients: z.array(Member).describe('a page of members, in client ID order'),
  next: z.string().nullable(),
  maintenanceWindow: GroupWindow.nullable().describe('the group’s maintenance windows, if any'),
}).meta({ id: 'GroupDetail' });

const groupPath = z.object({ group: z.string().min(1).describe('the group name (URL-encoded)') });
const nameBody = jsonBody(z.strictObject({ name: groupName }));

export function registerGroups(registry: Registry): void {
  registry.registerPath(
    pagedList({
      path: '/v1/groups',
      operationId: 'listGroups',
      summary: 'groups with their member counts, in creation order',
      tag: 'groups',
      scope: 'read',
      query: pageQuery.strict(),
      key: 'groups',
      item: Group,
    }),
  );
  registry.registerPath({
    method: 'post',
    path: '/v1/groups',
    operationId: 'createGroup',
    summary: 'create a named group',
    tags: ['groups'],
    security: token('approve'),
    request: { body: nameBody },
    responses: {
      '201': { description: 'the group', content: json(Group) },
      ...errors('400', '401', '403', '409'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/groups/{group}',
    operationId: 'showGroup',
    summary: 'a group, its deployment count and a page of its members (client ID order)',
    tags: ['groups'],
    security: token('read'),
    request: { params: groupPath, query: pageQuery.strict() },
    responses: {
      ...etagged('the group', GroupDetail),
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'patch',
    path: '/v1/groups/{group}',
    operationId: 'renameGroup',
    summary: 'rename a named group (the builtin groups keep their names)',
    tags: ['groups'],
    security: token('approve'),
    request: { params: groupPath, body: nameBody },
    responses: {
      '200': { description: 'the group', content: json(Group) },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/groups/{group}',
    operationId: 'deleteGroup',
    summary: 'delete a named group; its members leave it',
    description:
      'A group that still has deployments is refused (409) unless force=true, which removes them too and moves the catalog version. All Computers and Unassigned cannot be deleted (400).',
    tags: ['groups'],
    security: token('approve'),
    request: {
      params: groupPath,
      query: z.strictObject({
        force: trueFalse.optional().describe('also remove the group’s deployments'),
      }),
    },
    responses: {
      '200': {
        description: 'deleted',
        content: json(
          z.object({
            name: z.string(),
            removedDeployments: z.number().int(),
            removedMembers: z.number().int(),
            catalogVersion: z.number().int().nullable(),
          }),
        ),
      },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/groups/{group}/members',
    operationId: 'addGroupMembers',
    summary: 'put clients in a named group (each by ID, unique ID prefix or name), all or none',
    tags: ['groups'],
    security: token('approve'),
    request: { params: groupPath, body: jsonBody(z.object({ clientIds: clientRefs })) },
    responses: {
      '200': {
        description: 'the clients; added is false for one that was already a member',
        content: json(
          z.object({
            group: z.string(),
            clients: z.array(z.object({ clientId: z.string(), added: z.boolean() })),
          }),
        ),
      },
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/groups/{group}/members/{client}',
    operationId: 'removeGroupMember',
    summary: 'take a client out of a named group',
    tags: ['groups'],
    security: token('approve'),
    request: {
      params: groupPath.extend({
        client: z.string().min(1).describe('the client: ID, unique ID prefix or name'),
      }),
    },
    responses: {
      '200': {
        description: 'removed',
        content: json(z.object({ group: z.string(), clientId: z.string() })),
      },
      '400': error('invalid_input: an ambiguous client prefix or name'),
      ...errors('401', '403', '404'),
    },
  });
}
