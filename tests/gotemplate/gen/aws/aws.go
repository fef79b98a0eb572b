// Package aws holds the template data under the package name the Vault engine uses, so that
// Go prints its type as "aws.UsernameMetadata" in %T, %#v and error messages, as in Vault.
package aws

// UsernameMetadata is the data a username template sees (Vault's builtin/logical/aws).
type UsernameMetadata struct {
	Type        string
	DisplayName string
	PolicyName  string
}
