package cloudapi

import (
	"github.com/planguard/planguard/usageplan"
)

// service finds a service in the call's snapshot.
func (c *call) service(id *string) (usageplan.Service, *Error) {
	v, err := required("ServiceId", id)
	if err != nil {
		return usageplan.Service{}, err
	}
	s, ok := c.snap.Service(v)
	if !ok {
		return usageplan.Service{}, errorf(CodeInvalidService, "no service has ServiceId %s", quoteShort(v))
	}
	return s, nil
}

func (h *Handler) describeAPIUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		ServiceId *string
		paging
		// Sent by SDKs newer than the ones that defined the action.
		SearchEnvironment *string
		ApiIds            []string
	}](c)
	if err != nil {
		return nil, err
	}
	svc, err := c.service(p.ServiceId)
	if err != nil {
		return nil, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, err
	}
	q := usageplan.ApiUsagePlanQuery{ServiceId: svc.ID, ApiIds: p.ApiIds, Page: pg}
	if p.SearchEnvironment != nil {
		q.SearchEnvironment = *p.SearchEnvironment
	}
	set, derr := h.describer(c.snap).ApiUsagePlan(c.ctx, q)
	if derr != nil {
		return nil, translate(derr, CodeInvalidParameterValue)
	}
	return result(set)
}

func (h *Handler) describeServiceUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		ServiceId *string
		paging
	}](c)
	if err != nil {
		return nil, err
	}
	svc, err := c.service(p.ServiceId)
	if err != nil {
		return nil, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, err
	}
	set, derr := h.describer(c.snap).ServiceUsagePlan(c.ctx, svc.ID, pg)
	if derr != nil {
		return nil, translate(derr, CodeInvalidParameterValue)
	}
	return result(set)
}

func (h *Handler) describeUsagePlanEnvironments(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		UsagePlanId *string
		BindType    *string
		paging
	}](c)
	if err != nil {
		return nil, err
	}
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return nil, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, err
	}
	bindType := usageplan.BindService
	if p.BindType != nil {
		bindType = *p.BindType
	}
	set, derr := h.describer(c.snap).UsagePlanEnvironments(c.ctx, plan.ID, bindType, pg)
	if derr != nil {
		return nil, translate(derr, CodeInvalidParameterValue)
	}
	return result(set)
}

func (h *Handler) describeUsagePlanSecretIDs(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		UsagePlanId *string
		paging
	}](c)
	if err != nil {
		return nil, err
	}
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return nil, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, err
	}
	set, derr := h.describer(c.snap).UsagePlanSecretIds(c.ctx, plan.ID, pg)
	if derr != nil {
		return nil, translate(derr, CodeInvalidParameterValue)
	}
	return result(set)
}
