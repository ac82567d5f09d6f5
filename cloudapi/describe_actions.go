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

// servicePage is the ServiceId, Limit and Offset of a query on a service.
type servicePage struct {
	ServiceId *string
	paging
}

// resolve finds the service and checks the paging.
func (p servicePage) resolve(c *call) (usageplan.Service, usageplan.Page, *Error) {
	svc, err := c.service(p.ServiceId)
	if err != nil {
		return svc, usageplan.Page{}, err
	}
	pg, err := p.page()
	return svc, pg, err
}

// planPage is the UsagePlanId, Limit and Offset of a query on a plan.
type planPage struct {
	UsagePlanId *string
	paging
}

// resolve finds the plan and checks the paging.
func (p planPage) resolve(c *call) (usageplan.Plan, usageplan.Page, *Error) {
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return plan, usageplan.Page{}, err
	}
	pg, err := p.page()
	return plan, pg, err
}

// answer is the Result of a query the Describer answered.
func answer[T any](set T, err error) (map[string]any, *Error) {
	if err != nil {
		return nil, translate(err, CodeInvalidParameterValue)
	}
	return result(set)
}

func (h *Handler) describeAPIUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		servicePage
		// Sent by SDKs newer than the ones that defined the action.
		SearchEnvironment *string
		ApiIds            []string
	}](c)
	if err != nil {
		return nil, err
	}
	svc, pg, err := p.resolve(c)
	if err != nil {
		return nil, err
	}
	q := usageplan.ApiUsagePlanQuery{ServiceId: svc.ID, ApiIds: p.ApiIds, Page: pg}
	if p.SearchEnvironment != nil {
		q.SearchEnvironment = *p.SearchEnvironment
	}
	return answer(h.describer(c.snap).ApiUsagePlan(c.ctx, q))
}

func (h *Handler) describeServiceUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[servicePage](c)
	if err != nil {
		return nil, err
	}
	svc, pg, err := p.resolve(c)
	if err != nil {
		return nil, err
	}
	return answer(h.describer(c.snap).ServiceUsagePlan(c.ctx, svc.ID, pg))
}

func (h *Handler) describeUsagePlanEnvironments(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		planPage
		BindType *string
	}](c)
	if err != nil {
		return nil, err
	}
	plan, pg, err := p.resolve(c)
	if err != nil {
		return nil, err
	}
	bindType, err := bindTypeParam(p.BindType)
	if err != nil {
		return nil, err
	}
	return answer(h.describer(c.snap).UsagePlanEnvironments(c.ctx, plan.ID, bindType, pg))
}

func (h *Handler) describeUsagePlanSecretIDs(c *call) (map[string]any, *Error) {
	p, err := decode[planPage](c)
	if err != nil {
		return nil, err
	}
	plan, pg, err := p.resolve(c)
	if err != nil {
		return nil, err
	}
	return answer(h.describer(c.snap).UsagePlanSecretIds(c.ctx, plan.ID, pg))
}
