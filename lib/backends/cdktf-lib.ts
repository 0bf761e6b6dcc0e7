/**
 * The only module that imports cdktf and its provider bindings, so a build against a cdktf fork can alias these
 * imports in one place.
 */
export { Annotations, App, LocalBackend, TerraformBackend, TerraformElement, TerraformStack, TerraformVariable } from 'cdktf';
export type {
  FileProvisioner,
  RemoteExecProvisioner,
  SSHProvisionerConnection,
  TerraformMetaArguments,
} from 'cdktf';
export { provider as nullProvider } from '@cdktf/provider-null';
