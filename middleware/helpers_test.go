package middleware

import "github.com/planguard/planguard/binding"

func bindingTarget(svc, env string, apis ...string) binding.Target {
	return binding.Target{Service: svc, Environment: env, APIs: apis}
}
