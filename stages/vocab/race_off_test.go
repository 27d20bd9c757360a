//go:build !race

package vocab

const raceBuild = false
