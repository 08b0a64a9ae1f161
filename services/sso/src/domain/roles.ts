/**
 * The built-in roles. "admin" is the province administrator; the others
 * apply within the user's unit (and, for unit_admin, the units under it).
 */
import { create } from '@bufbuild/protobuf';
import { type Role, RoleSchema, RoleScope } from '#gen/lgsp/sso/v1/resources_pb.js';

export const ROLES: readonly Role[] = [
  create(RoleSchema, {
    name: 'admin',
    displayName: 'Quản trị viên cấp tỉnh',
    description: 'Manages every unit, application, credential and user of the platform.',
    scope: RoleScope.PLATFORM,
    builtIn: true,
  }),
  create(RoleSchema, {
    name: 'unit_admin',
    displayName: 'Quản trị viên đơn vị',
    description:
      'Manages the apps, SSO applications, credentials and users of the unit and the units under it.',
    scope: RoleScope.UNIT,
    builtIn: true,
  }),
  create(RoleSchema, {
    name: 'unit_staff',
    displayName: 'Cán bộ đơn vị',
    description: "Staff of the unit: logs in to the unit's business applications.",
    scope: RoleScope.UNIT,
    builtIn: true,
  }),
  create(RoleSchema, {
    name: 'unit_viewer',
    displayName: 'Cán bộ theo dõi liên thông',
    description: "Watches the unit's traffic in the console (Art. 7.1).",
    scope: RoleScope.UNIT,
    builtIn: true,
  }),
];

export const ROLE_NAMES: ReadonlySet<string> = new Set(ROLES.map((r) => r.name));
