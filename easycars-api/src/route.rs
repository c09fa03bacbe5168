//! Every EasyCars route, named once: the client builds its URLs from [`Route::path`], the
//! simulator parses a request path into a [`Route`] and matches on it, and the foreign data
//! wrapper names the routes it calls in `EXPLAIN`. A new route is a new variant here, and the
//! compiler then points at every place that must handle it.

/// The two EasyCars services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `StockService`.
    Stock,
    /// `LeadService`.
    Lead,
}

impl Service {
    /// Both services.
    pub const ALL: [Service; 2] = [Service::Stock, Service::Lead];

    /// The path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Service::Stock => "StockService",
            Service::Lead => "LeadService",
        }
    }

    /// The service whose segment is `segment`, letters in any case (EasyCars' server matches
    /// paths case-insensitively).
    pub fn parse(segment: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|s| s.segment().eq_ignore_ascii_case(segment))
    }
}

/// One EasyCars route: `POST {base_url}/{service}/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `RequestToken` of either service: a bearer token for that service's data calls.
    RequestToken(Service),
    /// `StockService/GetAdvertisementStocks`: every advertised stock item (or one yard's).
    GetAdvertisementStocks,
    /// `LeadService/GetLeadDetail`: one lead by number.
    GetLeadDetail,
    /// `LeadService/CreateLead`.
    CreateLead,
    /// `LeadService/UpdateLead`: the fields present in the request change.
    UpdateLead,
    /// `LeadService/SearchContacts`: by name, email or phone.
    SearchContacts,
    /// `LeadService/CreateQuotation`.
    CreateQuotation,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 8] = [
        Route::RequestToken(Service::Stock),
        Route::GetAdvertisementStocks,
        Route::RequestToken(Service::Lead),
        Route::CreateLead,
        Route::UpdateLead,
        Route::GetLeadDetail,
        Route::CreateQuotation,
        Route::SearchContacts,
    ];

    /// The service the route belongs to (and whose token a data call carries).
    pub fn service(self) -> Service {
        match self {
            Route::RequestToken(service) => service,
            Route::GetAdvertisementStocks => Service::Stock,
            Route::GetLeadDetail
            | Route::CreateLead
            | Route::UpdateLead
            | Route::SearchContacts
            | Route::CreateQuotation => Service::Lead,
        }
    }

    /// The operation's name, the last path segment.
    pub fn name(self) -> &'static str {
        match self {
            Route::RequestToken(_) => "RequestToken",
            Route::GetAdvertisementStocks => "GetAdvertisementStocks",
            Route::GetLeadDetail => "GetLeadDetail",
            Route::CreateLead => "CreateLead",
            Route::UpdateLead => "UpdateLead",
            Route::SearchContacts => "SearchContacts",
            Route::CreateQuotation => "CreateQuotation",
        }
    }

    /// `Service/Name`, the path below the environment root (and how errors name the route).
    pub fn path(self) -> &'static str {
        match self {
            Route::RequestToken(Service::Stock) => "StockService/RequestToken",
            Route::RequestToken(Service::Lead) => "LeadService/RequestToken",
            Route::GetAdvertisementStocks => "StockService/GetAdvertisementStocks",
            Route::GetLeadDetail => "LeadService/GetLeadDetail",
            Route::CreateLead => "LeadService/CreateLead",
            Route::UpdateLead => "LeadService/UpdateLead",
            Route::SearchContacts => "LeadService/SearchContacts",
            Route::CreateQuotation => "LeadService/CreateQuotation",
        }
    }

    /// The route named `name` in `service`, letters in any case.
    pub fn parse(service: Service, name: &str) -> Option<Route> {
        Route::ALL
            .into_iter()
            .find(|r| r.service() == service && r.name().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_service_slash_name() {
        for route in Route::ALL {
            assert_eq!(
                route.path(),
                format!("{}/{}", route.service().segment(), route.name())
            );
        }
    }

    #[test]
    fn every_route_parses_back_in_any_case() {
        for route in Route::ALL {
            let service = Service::parse(&route.service().segment().to_lowercase());
            assert_eq!(service, Some(route.service()));
            assert_eq!(
                Route::parse(route.service(), &route.name().to_uppercase()),
                Some(route)
            );
        }
        assert_eq!(Route::parse(Service::Stock, "CreateLead"), None);
        assert_eq!(Route::parse(Service::Lead, "GetAdvertisementStocks"), None);
        assert_eq!(Service::parse("QuoteService"), None);
    }
}
