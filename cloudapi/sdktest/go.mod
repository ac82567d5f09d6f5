module github.com/planguard/planguard/cloudapi/sdktest

go 1.25.0

require (
	github.com/planguard/planguard v0.0.0
	github.com/tencentcloud/tencentcloud-sdk-go v1.0.162
)

require github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect

replace github.com/planguard/planguard => ../..
