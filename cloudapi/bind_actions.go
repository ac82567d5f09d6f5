package cloudapi

import (
	"slices"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/usageplan"
)

type secretIDsParams struct {
	UsagePlanId  *string
	AccessKeyIds []string
}

// keyIDs checks AccessKeyIds: present, each ID once, each a known key.
func (c *call) keyIDs(ids []string) *Error {
	if len(ids) == 0 {
		return errorf(CodeMissingParameter, "AccessKeyIds is required")
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return errorf(CodeInvalidAccessKeyIDs, "AccessKeyIds lists %s twice", quoteShort(id))
		}
		if _, ok := c.snap.Key(id); !ok {
			return errorf(CodeInvalidAccessKeyID, "no key has AccessKeyId %s", quoteShort(id))
		}
	}
	return nil
}

// secretIDs decodes a BindSecretIds or UnBindSecretIds request and
// checks it against the snapshot: the plan and every key exist, and
// bound says whether the plan must already bind each key (refused with
// code otherwise).
func (c *call) secretIDs(bound bool, code, state string) (usageplan.Plan, []string, *Error) {
	p, err := decode[secretIDsParams](c)
	if err != nil {
		return usageplan.Plan{}, nil, err
	}
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return plan, nil, err
	}
	if err := c.keyIDs(p.AccessKeyIds); err != nil {
		return plan, nil, err
	}
	for _, id := range p.AccessKeyIds {
		if bindsKey(c.snap, plan.ID, id) != bound {
			return plan, nil, errorf(code, "usage plan %s %s key %s", plan.ID, state, id)
		}
	}
	return plan, p.AccessKeyIds, nil
}

func (h *Handler) bindSecretIDs(c *call) (map[string]any, *Error) {
	plan, ids, err := c.secretIDs(false, CodeAlreadyBindUsagePlan, "already binds")
	if err != nil {
		return nil, err
	}
	if berr := h.reg.BindKeys(plan.ID, ids...); berr != nil {
		return nil, translate(berr, CodeInvalidUsagePlan)
	}
	return done()
}

func (h *Handler) unbindSecretIDs(c *call) (map[string]any, *Error) {
	plan, ids, err := c.secretIDs(true, CodeInvalidAccessKeyIDs, "does not bind")
	if err != nil {
		return nil, err
	}
	if uerr := h.reg.UnbindKeys(plan.ID, ids...); uerr != nil {
		return nil, translate(uerr, CodeInvalidAccessKeyIDs)
	}
	return done()
}

type environmentParams struct {
	UsagePlanIds []string
	BindType     *string
	Environment  *string
	ServiceId    *string
	ApiIds       []string
}

// target decodes a BindEnvironment or UnBindEnvironment request, checks
// it against the snapshot and returns the plans and the target it names.
func (c *call) target() ([]usageplan.Plan, binding.Target, *Error) {
	var t binding.Target
	p, err := decode[environmentParams](c)
	if err != nil {
		return nil, t, err
	}
	if len(p.UsagePlanIds) == 0 {
		return nil, t, errorf(CodeMissingParameter, "UsagePlanIds is required")
	}
	var plans []usageplan.Plan
	for i, id := range p.UsagePlanIds {
		if slices.Contains(p.UsagePlanIds[:i], id) {
			return nil, t, errorf(CodeInvalidParameterValue, "UsagePlanIds lists %s twice", quoteShort(id))
		}
		plan, err := c.plan(&id)
		if err != nil {
			return nil, t, err
		}
		plans = append(plans, plan)
	}
	svc, env, err := c.environment(p.ServiceId, p.Environment)
	if err != nil {
		return nil, t, err
	}
	if !slices.Contains(svc.Environments, env) {
		return nil, t, errorf(CodeInvalidEnv, "service %s is not published to environment %s", svc.ID, quoteShort(env))
	}
	bindType, err := bindTypeParam(p.BindType)
	if err != nil {
		return nil, t, err
	}
	t = binding.Target{Service: svc.ID, Environment: env}
	switch bindType {
	case usageplan.BindService:
		if len(p.ApiIds) > 0 {
			return nil, t, errorf(CodeInvalidParameterValue, "ApiIds are for BindType API")
		}
	case usageplan.BindAPI:
		if len(p.ApiIds) == 0 {
			return nil, t, errorf(CodeMissingParameter, "ApiIds is required when BindType is API")
		}
		for i, a := range p.ApiIds {
			if slices.Contains(p.ApiIds[:i], a) {
				return nil, t, errorf(CodeInvalidAPIIDs, "ApiIds lists %s twice", quoteShort(a))
			}
			if _, ok := svc.API(a); !ok {
				return nil, t, errorf(CodeInvalidAPI, "service %s has no API %s", svc.ID, quoteShort(a))
			}
		}
		t.APIs = slices.Clone(p.ApiIds)
	}
	return plans, t, nil
}

// environment checks a ServiceId and an Environment: both required, the
// service known.
func (c *call) environment(svcID, env *string) (usageplan.Service, string, *Error) {
	svc, err := c.service(svcID)
	if err != nil {
		return svc, "", err
	}
	e, err := required("Environment", env)
	return svc, e, err
}

// bindTypeParam checks a BindType: SERVICE (the default) or API.
func bindTypeParam(p *string) (string, *Error) {
	if p == nil {
		return usageplan.BindService, nil
	}
	if *p != usageplan.BindService && *p != usageplan.BindAPI {
		return "", errorf(CodeInvalidParameterValue, "BindType must be SERVICE or API, got %s", quoteShort(*p))
	}
	return *p, nil
}

func (h *Handler) bindEnvironment(c *call) (map[string]any, *Error) {
	plans, t, err := c.target()
	if err != nil {
		return nil, err
	}
	for _, plan := range plans {
		for _, b := range plan.Bindings {
			if b.Service != t.Service || b.Environment != t.Environment {
				continue
			}
			if b.ServiceWide() || t.ServiceWide() {
				return nil, errorf(CodeUnsupportedBindEnvironment, "usage plan %s is already bound to %s", plan.ID, t.Scope())
			}
			for _, a := range t.APIs {
				if slices.Contains(b.APIs, a) {
					return nil, errorf(CodeUnsupportedBindEnvironment, "usage plan %s already binds API %s in %s", plan.ID, a, t.Scope())
				}
			}
		}
	}
	if berr := h.reg.BindPlans(planIDs(plans), t); berr != nil {
		return nil, translate(berr, CodeInvalidUsagePlan)
	}
	return done()
}

func (h *Handler) unbindEnvironment(c *call) (map[string]any, *Error) {
	plans, t, err := c.target()
	if err != nil {
		return nil, err
	}
	for _, plan := range plans {
		i := slices.IndexFunc(plan.Bindings, func(b binding.Target) bool {
			return b.Service == t.Service && b.Environment == t.Environment
		})
		if i < 0 {
			return nil, errorf(CodeNoUsagePlanEnv, "usage plan %s is not bound to %s", plan.ID, t.Scope())
		}
		if b := plan.Bindings[i]; b.ServiceWide() != t.ServiceWide() {
			return nil, errorf(CodeUnsupportedUnBindEnvironment, "usage plan %s binds %s %s; unbind it with BindType %s", plan.ID, t.Scope(), scopeWord(b), bindTypeOf(b))
		}
	}
	if uerr := h.reg.UnbindPlans(planIDs(plans), t.Service, t.Environment, t.APIs...); uerr != nil {
		return nil, translate(uerr, CodeInvalidAPIIDs)
	}
	return done()
}

func planIDs(plans []usageplan.Plan) []string {
	ids := make([]string, len(plans))
	for i, p := range plans {
		ids[i] = p.ID
	}
	return ids
}

func scopeWord(b binding.Target) string {
	if b.ServiceWide() {
		return "service-wide"
	}
	return "for some of its APIs"
}

func bindTypeOf(b binding.Target) string {
	if b.ServiceWide() {
		return usageplan.BindService
	}
	return usageplan.BindAPI
}

func (h *Handler) demoteServiceUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		UsagePlanId *string
		ServiceId   *string
		Environment *string
	}](c)
	if err != nil {
		return nil, err
	}
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return nil, err
	}
	svc, env, err := c.environment(p.ServiceId, p.Environment)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(plan.Bindings, func(b binding.Target) bool { return b.Service == svc.ID && b.Environment == env })
	switch {
	case i < 0:
		return nil, errorf(CodeNoUsagePlanEnv, "usage plan %s is not bound to %s/%s", plan.ID, svc.ID, quoteShort(env))
	case !plan.Bindings[i].ServiceWide():
		return nil, errorf(CodeNoUsagePlanEnv, "usage plan %s binds %s/%s per API already", plan.ID, svc.ID, env)
	case len(svc.APIs) == 0:
		return nil, errorf(CodeNoUsagePlanEnv, "service %s has no API to demote the plan to", svc.ID)
	}
	if derr := h.reg.Demote(plan.ID, svc.ID, env); derr != nil {
		return nil, translate(derr, CodeNoUsagePlanEnv)
	}
	return done()
}
